/**
 * The rollout state machine on a real embedded store (PGlite in a temp directory): what the
 * integration tests (test/integration/rollout*.test.ts) do not reach with processes:
 * onFailure revert, a silent node, noop and cached runs that do not count, a third version
 * superseding a rollout (never more than two versions served), and the operators' refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type Store } from './store.js';
import { Rollouts } from './rollout.js';
import type { RolloutPolicy } from '../catalogue/rollout.js';

const dir = mkdtempSync(path.join(tmpdir(), 'i30-rollout-store-'));
let store: Store;
const V = (c: string): string => `sha256:${c.repeat(64)}`;
const NODES = ['c0', 'w1', 'w2', 'w3'];
const known = async () => NODES.map((node) => ({ node }));
const policy = (over: Partial<RolloutPolicy> = {}): RolloutPolicy => ({
  waves: [
    { name: 'canary', nodes: ['c0'], bakeMs: 0 },
    { name: 'all', bakeMs: 0 },
  ],
  health: { maxFailed: 0, maxHeld: 0, maxReplaces: 0, reportWithinMs: 3_600_000 },
  onFailure: 'halt',
  ...over,
});
const report = (codeVersion: string, over: Record<string, unknown> = {}) => ({
  formatVersion: 1,
  codeVersion,
  exitCode: 2,
  summary: { changed: 1 },
  resources: [{ id: 'file[a]', status: 'changed', action: 'update' }],
  ...over,
});
const served = (r: Rollouts): Set<string | undefined> => new Set(NODES.map((n) => r.versionFor(n)));

beforeAll(async () => {
  store = await openStore({ dataDir: dir });
  for (const n of NODES) await store.putFacts(n, { hostname: n });
}, 120_000);
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rollouts in the store', () => {
  const r = (): Rollouts => new Rollouts(store);

  it('the first version is stable; a tree without a policy is stable at once', async () => {
    const ro = r();
    await ro.onCode(V('1'), policy(), known);
    expect([...served(ro)]).toEqual([V('1')]);
    await ro.onCode(V('2'), undefined, known);
    expect([...served(ro)]).toEqual([V('2')]);
    expect((await ro.status([])).rollout).toBeUndefined();
  });

  it('onFailure revert: an unhealthy canary sends every node of the rollout back', async () => {
    const ro = r();
    await ro.onCode(V('3'), policy({ onFailure: 'revert' }), known);
    expect(ro.versionFor('c0')).toBe(V('3'));
    expect(ro.versionFor('w1')).toBe(V('2'));
    // A noop run and a cached run on the canary neither pass nor fail the wave.
    await store.addReport('c0', report(V('3'), { noop: true, resources: [{ id: 'file[a]', status: 'failed' }] }));
    await store.addReport('c0', report(V('2'), { cachedCatalogue: true, resources: [{ id: 'file[a]', status: 'failed' }] }));
    await ro.tick();
    expect((await ro.status([])).rollout).toMatchObject({ state: 'rolling', wave: 0 });
    await store.addReport('c0', report(V('3'), { resources: [{ id: 'docker.container[db]', status: 'skipped', error: { code: 'REPLACE_HELD' } }] }));
    await ro.tick();
    const s = await ro.status([]);
    expect(s.rollout).toMatchObject({ state: 'reverted', reason: 'wave canary: c0: 1 held resource(s): docker.container[db]' });
    expect(s.audit[0]).toMatchObject({ actor: 'server', action: 'revert' });
    expect([...served(ro)]).toEqual([V('2')]);
    await expect(ro.promote('operator:x', false)).rejects.toThrow(/is reverted: nothing to promote/);
    // The same tree again (a SIGHUP): no new rollout.
    await ro.onCode(V('3'), policy({ onFailure: 'revert' }), known);
    expect((await ro.status([])).rollout).toMatchObject({ id: s.rollout!.id, state: 'reverted' });
  });

  it('a node that stops reporting fails its wave', async () => {
    const ro = r();
    await ro.onCode(V('4'), policy({ health: { maxFailed: 0, maxHeld: 0, maxReplaces: 0, reportWithinMs: 0 } }), known);
    await ro.tick();
    expect((await ro.status([])).rollout).toMatchObject({ state: 'halted', reason: expect.stringMatching(/no report on the new version within 0 s from c0/) });
  });

  it('a third version supersedes the rollout from the stable version: never more than two versions', async () => {
    const ro = r();
    await ro.promote('operator:x', false); // the halted rollout of V4 resumes: wave all
    expect([...served(ro)]).toEqual([V('4')]);
    await ro.onCode(V('5'), policy(), known);
    const s = await ro.status([]);
    expect(s.rollout).toMatchObject({ from: V('2'), to: V('5'), state: 'rolling', wave: 0 });
    expect(served(ro)).toEqual(new Set([V('2'), V('5')]));
    expect(s.audit.map((a) => a.action).slice(0, 3)).toEqual(['start', 'supersede', 'promote']);
    // A healthy canary and no bake: the wave is promoted, then the last one, then done.
    await store.addReport('c0', report(V('5')));
    await ro.tick();
    expect((await ro.status([])).rollout).toMatchObject({ wave: 1, state: 'rolling' });
    for (const n of NODES.slice(1)) await store.addReport(n, report(V('5'), { resources: [{ id: 'x', status: 'changed', action: 'replace' }] }));
    await ro.tick();
    expect((await ro.status([])).rollout).toMatchObject({ state: 'halted', reason: expect.stringMatching(/replaced resource/) });
    await ro.promote('operator:x', true);
    const done = await ro.status([]);
    expect(done).toMatchObject({ stable: V('5'), rollout: { state: 'done', reason: 'every node at once, by operator:x' } });
    expect(done.audit[0]).toMatchObject({ actor: 'operator:x', action: 'promote-all' });
    await expect(ro.halt('operator:x')).rejects.toThrow(/is done: only a rolling rollout halts/);
  });

  it('another Rollouts on the same store (a replica, a restart) reads the same state', async () => {
    const a = r();
    const b = r();
    await a.onCode(
      V('6'),
      policy({
        waves: [
          { name: 'canary', nodes: ['c0'], bakeMs: 3_600_000 },
          { name: 'all', bakeMs: 0 },
        ],
      }),
      known,
    );
    await b.refresh();
    expect(NODES.map((n) => b.versionFor(n))).toEqual(NODES.map((n) => a.versionFor(n)));
    await b.halt('operator:y');
    await a.refresh();
    expect((await a.status([])).rollout).toMatchObject({ state: 'halted', reason: 'halted by operator:y' });
  });
});
