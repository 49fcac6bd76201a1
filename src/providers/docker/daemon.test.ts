import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDockerDaemonProvider, daemonViews, parseDaemonJson, renderDaemonJson, type DaemonAttrs } from './daemon.js';
import { converge, planOf, resource, tempRoot, testContext } from '../hostio.testkit.js';

describe('daemon.json', () => {
  it.each<[string, Record<string, unknown>, DaemonAttrs, Record<string, unknown>]>([
    [
      'sets declared keys, keeps the others in order',
      { 'data-root': '/srv/docker', 'log-driver': 'journald' },
      { logDriver: 'json-file', logOpts: { 'max-size': '10m', 'max-file': '3' } },
      { 'data-root': '/srv/docker', 'log-driver': 'json-file', 'log-opts': { 'max-file': '3', 'max-size': '10m' } },
    ],
    ['absent removes only managed keys', { 'data-root': '/x', 'live-restore': true, dns: ['1.1.1.1'] }, { ensure: 'absent' }, { 'data-root': '/x' }],
    [
      'pools and dns',
      {},
      { dns: ['10.0.0.53'], liveRestore: true, defaultAddressPools: [{ base: '10.200.0.0/16', size: 24 }] },
      { dns: ['10.0.0.53'], 'live-restore': true, 'default-address-pools': [{ base: '10.200.0.0/16', size: 24 }] },
    ],
  ])('%s', (_n, existing, attrs, expected) => {
    expect(JSON.parse(renderDaemonJson(existing, attrs))).toEqual(expected);
  });

  it.each([
    ['', {}],
    ['{"a":1}', { a: 1 }],
  ])('parses %j', (text, out) => {
    expect(parseDaemonJson(text, 'f')).toEqual(out);
  });
  it.each(['{nope', '[]', '"x"'])('refuses %j', (text) => {
    expect(() => parseDaemonJson(text, '/etc/docker/daemon.json')).toThrow(/daemon\.json (is not valid JSON|does not hold a JSON object)/);
  });

  it('views hold only declared keys; log-opts compare as strings by key', () => {
    const r = resource<DaemonAttrs>('docker.daemon', 'engine', { logOpts: { 'max-file': '3', 'max-size': '10m' } });
    expect(daemonViews(r, { exists: true, config: { 'log-driver': 'local', 'log-opts': { 'max-size': '10m', 'max-file': 3 } } })).toEqual({
      desired: { logOpts: { 'max-file': '3', 'max-size': '10m' } },
      actual: { logOpts: { 'max-file': '3', 'max-size': '10m' } },
    });
  });
});

describe('docker.daemon provider against a temp root', () => {
  let cleanup = (): void => undefined;
  afterEach(() => cleanup());
  it('converges daemon.json, keeps foreign keys, reports hand edits', async () => {
    const t = tempRoot('daemon');
    cleanup = t.cleanup;
    const ctx = testContext(t.root);
    const file = path.join(t.root, 'etc/docker/daemon.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '{"storage-driver": "overlay2"}\n');
    const p = createDockerDaemonProvider();
    const r = resource<DaemonAttrs>('docker.daemon', 'engine', { logDriver: 'json-file', logOpts: { 'max-size': '10m', 'max-file': '3' }, liveRestore: true });
    expect((await converge(p, r, ctx)).action).toBe('update');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      'storage-driver': 'overlay2',
      'log-driver': 'json-file',
      'log-opts': { 'max-file': '3', 'max-size': '10m' },
      'live-restore': true,
    });
    expect((await converge(p, r, ctx)).action).toBe('none');
    writeFileSync(file, readFileSync(file, 'utf8').replace('10m', '1g'));
    expect((await planOf(p, r, ctx)).plan.changes.map((c) => [c.path, c.from, c.to])).toEqual([['/logOpts/max-size', '1g', '10m']]);
    writeFileSync(file, '{broken');
    await expect(planOf(p, r, ctx)).rejects.toMatchObject({ code: 'INVALID_VALUE' });
  });
});
