import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManifestErrors } from '../core/errors.js';
import { loadInventory, selectHosts } from './inventory.js';

function write(text: string): string {
  const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'hu-inv-')), 'inventory.yaml');
  writeFileSync(f, text);
  return f;
}

const GOOD = `
knownHosts: keys/known_hosts
defaults:
  user: deploy
  key: keys/id_ed25519
  environment: production
hosts:
  web-1:
    address: 10.0.0.1
  web-2:
    address: 10.0.0.2
    port: 2222
    root: /srv/sim/web-2
    stateDir: /srv/sim/web-2-state
    key: ~/.ssh/other
  db-1:
    node: database-1
    address: db.example.org
    environment: staging
groups:
  web: [web-1, web-2]
`;

describe('inventory', () => {
  it('resolves defaults, paths and node names once', async () => {
    const file = write(GOOD);
    const dir = path.dirname(file);
    const inv = await loadInventory(file);
    expect(inv.knownHosts).toBe(path.join(dir, 'keys/known_hosts'));
    const [w1, w2, db] = inv.hosts;
    expect(w1).toMatchObject({
      name: 'web-1',
      node: 'web-1',
      port: 22,
      user: 'deploy',
      key: path.join(dir, 'keys/id_ed25519'),
      environment: 'production',
      root: '/',
      tsconverge: '/usr/local/bin/tsconverge',
      connectTimeoutMs: 10_000,
    });
    expect(w1!.stateDir).toBeUndefined();
    expect(w2).toMatchObject({ port: 2222, root: '/srv/sim/web-2', stateDir: '/srv/sim/web-2-state', key: path.join(os.homedir(), '.ssh/other') });
    expect(db).toMatchObject({ node: 'database-1', environment: 'staging', source: { file, line: 16 } });
  });

  it.each([
    [undefined, ['web-1', 'web-2', 'db-1']],
    ['web', ['web-1', 'web-2']],
    ['db-*', ['db-1']],
    ['web-?,db-1', ['web-1', 'web-2', 'db-1']],
    ['web-2', ['web-2']],
  ])('--limit %s', async (limit, names) => {
    const inv = await loadInventory(write(GOOD));
    expect(selectHosts(inv, limit).map((h) => h.name)).toEqual(names);
  });

  it('--limit matching nothing is an error that lists the hosts and groups', async () => {
    const inv = await loadInventory(write(GOOD));
    expect(() => selectHosts(inv, 'mail-*')).toThrow(/matches no host or group/);
  });

  it.each([
    ['unknown field', 'hosts:\n  a:\n    address: x\n    adress: y\n', 4, 5, '/hosts/a/adress', 'unknown field "adress"'],
    ['missing address', 'hosts:\n  a:\n    port: 22\n', 2, 3, '/hosts/a', 'missing required field "address"'],
    ['relative root', 'hosts:\n  a:\n    address: x\n    root: srv/a\n', 4, 5, '/hosts/a/root', 'must match pattern'],
    ['port out of range', 'defaults:\n  port: 70000\nhosts:\n  a: { address: x }\n', 2, 3, '/defaults/port', 'must be <= 65535'],
    ['group names an unknown host', 'hosts:\n  a: { address: x }\ngroups:\n  g: [a, b]\n', 4, 10, '/groups/g/1', 'group "g" names host "b"'],
    ['not YAML', 'hosts: [\n', 2, 1, undefined, ''],
  ])('%s: error at line and column', async (_what, text, line, column, pointer, message) => {
    const file = write(text);
    const err = await loadInventory(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ManifestErrors);
    const first = (err as ManifestErrors).errors[0]!;
    expect(first.location).toMatchObject({ file, line, column, ...(pointer ? { pointer } : {}) });
    expect(first.message).toContain(message);
  });
});
