import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerOwnership, madeBy } from '../providers/docker/ownership.js';
import type { Provider, Resource, ResourcePlan } from '../providers/types.js';
import { TsconvergeError } from '../core/errors.js';
import { openAdoptionStore, ownershipPlan, recordAdoption } from './ownership.js';

const provider = {
  kind: 'docker.network',
  ownership: (_r: Resource, o: { id: string; labels: Record<string, string> }) => dockerOwnership(o.id, o.labels),
} as unknown as Provider;
const res = (attrs: Record<string, unknown> = {}): Resource => ({ kind: 'docker.network', name: 'web', id: 'docker.network[web]', attrs, sensitive: [] });
const plan = (action: ResourcePlan['action']): ResourcePlan => ({ action, changes: [], forcedBy: [], refresh: false });
const ours = { id: 'n1', labels: { 'io.tsconverge.owner': 'tsconverge' } };
const compose = { id: 'n2', labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.network': 'front', 'com.docker.compose.version': '1.29.2' } };
const hand = { id: 'n3', labels: {} };

describe('madeBy', () => {
  it.each([
    [{ 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'web' }, 'Docker Compose (project p, service web)'],
    [
      { 'com.docker.compose.project': 'p', 'com.docker.compose.volume': 'data', 'com.docker.compose.version': '2.20.0' },
      'Docker Compose 2.20.0 (project p, volume data)',
    ],
    [{ 'com.docker.stack.namespace': 's' }, 'docker stack s'],
    [{ 'io.tsconverge.owner': 'someone-else' }, 'someone-else (label io.tsconverge.owner)'],
    [{ a: 'b' }, undefined],
    [null, undefined],
  ])('%j -> %s', (labels, out) => {
    expect(madeBy(labels as Record<string, string> | null)).toBe(out);
  });
});

describe('ownershipPlan', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hm-own-'));

  it.each<[string, unknown, Record<string, unknown>, boolean, ResourcePlan['action'], string]>([
    ['absent: unchanged', null, {}, false, 'create', 'create'],
    ['ours: unchanged', ours, {}, false, 'none', 'none'],
    ['ours, changed: unchanged', ours, {}, false, 'replace', 'replace'],
    ['foreign, adopt: true: adopt', compose, { adopt: true }, false, 'none', 'adopt'],
    ['foreign, --adopt: adopt', hand, {}, true, 'none', 'adopt'],
    ['foreign and changed, adopt: the change, marked adopt', compose, { adopt: true }, false, 'replace', 'replace'],
  ])('%s', async (_name, observed, attrs, adoptAll, action, expected) => {
    const store = await openAdoptionStore(dir);
    const out = ownershipPlan(plan(action), provider, res(attrs), observed, store, adoptAll);
    expect(out.action).toBe(expected);
    expect(out.adopt !== undefined).toBe(observed !== null && observed !== ours);
  });

  it.each([
    [compose, 'made by Docker Compose 1.29.2 (project shop, network front)'],
    [hand, 'made by hand or by another tool'],
  ])('refuses a foreign object: %j', async (observed, msg) => {
    const store = await openAdoptionStore(dir);
    for (const action of ['none', 'update', 'delete'] as const) {
      let err: unknown;
      try {
        ownershipPlan(plan(action), provider, res(), observed, store, false);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TsconvergeError);
      expect((err as TsconvergeError).code).toBe('NOT_OWNED');
      expect((err as TsconvergeError).terminal).toBe(true);
      expect((err as TsconvergeError).message).toContain(`exists, not managed by tsconverge (${msg}`);
    }
  });

  it('records adoptions by object id; a recorded object is managed, a new one with the same name is not', async () => {
    const store = await openAdoptionStore(dir);
    const p = ownershipPlan(plan('none'), provider, res({ adopt: true }), hand, store, false);
    await Promise.all([recordAdoption(p, provider, res(), hand, store), recordAdoption(p, provider, res(), { id: 'n4', labels: {} }, store)]);
    const again = await openAdoptionStore(dir);
    expect(again.has('n3') && again.has('n4')).toBe(true);
    expect(ownershipPlan(plan('none'), provider, res(), hand, again, false).action).toBe('none');
    expect(() => ownershipPlan(plan('none'), provider, res(), { id: 'n5', labels: {} }, again, false)).toThrow(/not managed by tsconverge/);
    expect(JSON.parse(readFileSync(path.join(dir, 'adopted.json'), 'utf8')).objects.n3.resource).toBe('docker.network[web]');
  });
});
