/**
 * `import host --users` against a temp root whose accounts were made by the real
 * shadow-utils (useradd/usermod/groupadd -P), with keys written by hand: the manifest it
 * writes holds the users, groups and keys above the uid threshold, never a password hash,
 * and a plan against it shows no changes (exit 0) and touches nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { cli, fingerprint, tempRoot } from '../../src/providers/hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from '../../src/providers/user/accounts.testkit.js';
import { generateKey } from '../support/sshd.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
const pub: string[] = [];
const HASH = '$y$j9T$i26importsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456';
const sh = (tool: string, ...args: string[]): string => execFileSync(tool, ['-P', root, ...args], { encoding: 'utf8' });

beforeAll(() => {
  t = tempRoot('i26-import');
  root = path.join(t.root, 'root');
  seedRoot(root, { group: 'sudo:x:27:\n', gshadow: 'sudo:*::\n' });
  sh('groupadd', '-g', '2650', 'i26-devs');
  sh('useradd', '-r', '-U', '-u', '999', '-M', '-d', '/home/i26-daemon', '-s', '/usr/sbin/nologin', 'i26-daemon');
  sh('useradd', '-u', '2651', '-U', '-G', 'i26-devs,sudo', '-d', '/home/i26-frank', '-M', '-s', '/bin/bash', '-c', 'Frank Example', 'i26-frank');
  sh('useradd', '-u', '2652', '-g', 'i26-devs', '-d', '/home/i26-gina', '-M', '-s', '/bin/sh', '-e', '2031-05-06', 'i26-gina');
  sh('useradd', '-u', '2653', '-U', '-d', '/home/i26-hank', '-M', '-s', '/bin/sh', 'i26-hank');
  sh('usermod', '-L', '-e', '1', 'i26-hank');
  for (const u of ['i26-daemon', 'i26-gina', 'i26-hank']) mkdirSync(path.join(root, 'home', u), { recursive: true });
  // frank's password hash, set by hand (the import must leave it out).
  const shadow = path.join(root, 'etc/shadow');
  writeFileSync(shadow, readFileSync(shadow, 'utf8').replace(/^i26-frank:!:/m, `i26-frank:${HASH}:`));
  for (const n of ['a', 'b']) pub.push(generateKey(path.join(t.root, `id_${n}`), `i26-${n}@import`));
  mkdirSync(path.join(root, 'home/i26-frank/.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(root, 'home/i26-frank/.ssh/authorized_keys'), `# frank's keys\n${pub[0]}\nno-pty,from="10.0.0.0/8,192.168.0.1" ${pub[1]}\n`, {
    mode: 0o600,
  });
  chownSync(path.join(root, 'home/i26-frank/.ssh/authorized_keys'), 2651, 2651);
});
afterAll(() => t?.cleanup());

describe('import host --users', () => {
  it('writes users, groups and keys above the threshold, no hash; a plan against it is clean and touches nothing', async () => {
    expect(checkAccountFiles(root)).toBe(CLEAN);
    const out = path.join(t.root, 'users.yaml');
    const run = await cli(['import', 'host', '--users', '--no-docker', '--root', root, '-o', out]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toMatch(/1 password hash\(es\) not imported/);
    const text = readFileSync(out, 'utf8');
    expect(text).not.toContain('i26importsalt');
    expect(text).not.toContain('i26-daemon');
    const m = parse(text) as { resources: Record<string, unknown>[] };
    const byId = new Map(m.resources.map((r) => [`${String(r.kind)}[${String(r.name)}]`, r]));
    expect(byId.get('group[i26-devs]')).toEqual({ kind: 'group', name: 'i26-devs', gid: 2650 });
    expect(byId.get('user[i26-frank]')).toMatchObject({
      uid: 2651,
      group: 'i26-frank',
      groups: ['i26-devs', 'sudo'],
      home: '/home/i26-frank',
      shell: '/bin/bash',
      comment: 'Frank Example',
    });
    expect(byId.get('user[i26-gina]')).toMatchObject({ uid: 2652, group: 'i26-devs', expiry: '2031-05-06' });
    expect(byId.get('user[i26-hank]')).toMatchObject({ uid: 2653, locked: true });
    expect(byId.get('ssh.authorized_keys[i26-frank]')).toEqual({
      kind: 'ssh.authorized_keys',
      name: 'i26-frank',
      keys: [pub[0], { key: pub[1], options: ['no-pty', 'from="10.0.0.0/8,192.168.0.1"'] }],
    });
    expect(byId.has('ssh.authorized_keys[i26-gina]')).toBe(false);

    const files = ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow', 'home/i26-frank/.ssh/authorized_keys'];
    const before = fingerprint(root, files);
    const plan = await cli(['plan', out, '--root', root, '--format', 'json']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(
      plan.json.resources.every((r: { action: string }) => r.action === 'none'),
      plan.stdout,
    ).toBe(true);
    const apply = await cli(['apply', out, '--root', root]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(fingerprint(root, files)).toBe(before);
  });

  it('--min-uid that is not a number: exit 1, a clear error', async () => {
    const run = await cli(['import', 'host', '--users', '--no-docker', '--root', root, '--min-uid', 'ten']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/--min-uid "ten" is not a whole number/);
  });
});
