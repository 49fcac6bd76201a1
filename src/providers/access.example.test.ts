/**
 * examples/access through the real CLI against a temp root where carol still has an
 * account (made by the real useradd -P): the plan shows alice and bob created, carol
 * deleted, the sudo rule written, and changes nothing; apply converges it (pwck -r and
 * grpck -r clean, visudo -cf passes); apply again has nothing to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, cli, fingerprint, reported, tempRoot } from './hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from './user/accounts.testkit.js';

const manifest = path.join(REPO, 'examples/access/manifest.yaml');
let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('i26-access-example');
  root = path.join(t.root, 'root');
  seedRoot(root);
  execFileSync('useradd', ['-P', root, '-U', '-u', '2003', '-d', '/home/carol', '-M', '-s', '/bin/bash', 'carol']);
});
afterAll(() => t?.cleanup());

describe('examples/access', () => {
  it('plans without touching anything, converges, then has nothing to do', async () => {
    const files = ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow'];
    const before = fingerprint(root, files);
    const plan = await cli(['plan', manifest, '--root', root, '--format', 'json']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(2);
    expect(plan.json.resources.map((r: { id: string; action: string }) => `${r.id} ${r.action}`).sort()).toEqual([
      'group[ops] create',
      'ssh.authorized_keys[alice] create',
      'ssh.authorized_keys[bob] create',
      'sudo.rule[ops] create',
      'user[alice] create',
      'user[bob] create',
      'user[carol] delete',
    ]);
    expect(fingerprint(root, files)).toBe(before);

    const apply = await cli(['apply', manifest, '--root', root, '--format', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(reported(apply, 'user[carol]')).toMatchObject({ status: 'changed' });
    expect(checkAccountFiles(root)).toBe(CLEAN);
    const passwd = readFileSync(path.join(root, 'etc/passwd'), 'utf8');
    expect(passwd).toMatch(/^alice:x:2001:\d+:Alice Operator:\/home\/alice:\/bin\/bash$/m);
    expect(passwd).not.toMatch(/^carol:/m);
    expect(readFileSync(path.join(root, 'etc/group'), 'utf8')).toMatch(/^ops:x:2000:(alice,bob|bob,alice)$/m);
    expect(readFileSync(path.join(root, 'etc/shadow'), 'utf8')).toMatch(/^alice:\*:/m);
    expect(readFileSync(path.join(root, 'home/alice/.ssh/authorized_keys'), 'utf8')).toContain('no-port-forwarding,no-agent-forwarding ssh-ed25519 ');
    expect(statSync(path.join(root, 'home/bob/.ssh/authorized_keys')).uid).toBe(2002);
    execFileSync('visudo', ['-cf', path.join(root, 'etc/sudoers.d/ops')]);
    expect(existsSync(path.join(root, 'home/carol'))).toBe(false);

    const again = await cli(['apply', manifest, '--root', root, '--format', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });

  it('order comes by itself: keys and rule before their user, the user before its groups, no require', async () => {
    const t2 = tempRoot('i26-access-order');
    try {
      const r2 = path.join(t2.root, 'root');
      seedRoot(r2);
      const m = path.join(t2.root, 'reversed.yaml');
      const text = readFileSync(manifest, 'utf8');
      const items = text
        .slice(text.indexOf('resources:\n') + 'resources:\n'.length)
        .split(/\n(?=  - kind:)/)
        .filter((x) => x.includes('- kind:'));
      writeFileSync(m, 'resources:\n' + items.reverse().join('\n') + '\n');
      expect(readFileSync(m, 'utf8').indexOf('kind: ssh.authorized_keys')).toBeLessThan(readFileSync(m, 'utf8').indexOf('kind: group'));
      const run = await cli(['apply', m, '--root', r2, '--format', 'json']);
      expect(run.code, run.stdout + run.stderr).toBe(2);
      expect(run.json.resources.filter((x: { status: string }) => x.status === 'failed')).toEqual([]);
      expect(checkAccountFiles(r2)).toBe(CLEAN);
      expect((await cli(['apply', m, '--root', r2])).code).toBe(0);
    } finally {
      t2.cleanup();
    }
  });
});
