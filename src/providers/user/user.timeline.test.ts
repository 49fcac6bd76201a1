/**
 * user and group through the real CLI against a temp root, changed by the real
 * shadow-utils (useradd/usermod/groupadd -P ROOT), checked by pwck -r and grpck -r after
 * every apply (checkAccountFiles: in a private mount namespace, this machine's /etc is
 * never touched).
 *
 * Timeline: apply -> changed; again -> nothing; hand edits (shell changed, a membership
 * removed, an extra group joined) -> noop reports them, exit 2, nothing touched;
 * apply -> repaired. membership: minimum keeps a group joined by hand; exact removes it.
 * The password hash never appears in any output. ensure: absent removes the user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync, symlinkSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { cli, fingerprint, reported, tempRoot } from '../hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from './accounts.testkit.js';

const HASH = '$6$i26salt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnop';
let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('i26-user');
  root = path.join(t.root, 'root');
  seedRoot(root, { group: 'sudo:x:27:\n', gshadow: 'sudo:*::\n' });
});
afterAll(() => t?.cleanup());

function manifest(name: string, alice: string, extra = ''): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: group
    name: i26-ops
    gid: 2600
  - kind: group
    name: docker
    gid: 2601
  - kind: user
    name: i26-alice
    uid: 2610
    group: i26-ops
    groups: [docker]
    shell: /bin/bash
    comment: Alice Example
    password: ${JSON.stringify(HASH)}
${alice}
  - kind: user
    name: i26-bob
    uid: 2611
    groups: [i26-ops]
    shell: /bin/sh
${extra}
`,
  );
  return file;
}

const files = ['etc/passwd', 'etc/group', 'etc/shadow', 'etc/gshadow'];
const line = (file: string, name: string): string =>
  readFileSync(path.join(root, 'etc', file), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`)) ?? '';
const setLine = (file: string, name: string, fn: (l: string) => string): void => {
  const p = path.join(root, 'etc', file);
  writeFileSync(
    p,
    readFileSync(p, 'utf8')
      .split('\n')
      .map((l) => (l.startsWith(`${name}:`) ? fn(l) : l))
      .join('\n'),
  );
};

describe('user and group timeline', () => {
  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const m = manifest('users.yaml', '    membership: exact');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    for (const id of ['group[i26-ops]', 'group[docker]', 'user[i26-alice]', 'user[i26-bob]'])
      expect(reported(first, id)).toMatchObject({ action: 'create', status: 'changed' });
    expect(first.stderr).toMatch(/user\[i26-alice\]: joins docker: membership of docker is root-equivalent/);
    expect(line('passwd', 'i26-alice')).toBe('i26-alice:x:2610:2600:Alice Example:/home/i26-alice:/bin/bash');
    expect(line('shadow', 'i26-alice').split(':')[1]).toBe(HASH);
    expect(line('group', 'docker')).toBe('docker:x:2601:i26-alice');
    expect(line('group', 'i26-ops')).toBe('i26-ops:x:2600:i26-bob');
    expect(line('group', 'i26-bob')).toMatch(/^i26-bob:x:\d+:$/);
    const home = statSync(path.join(root, 'home/i26-alice'));
    expect([home.uid, home.gid, (home.mode & 0o777).toString(8)]).toEqual([2610, 2600, '700']);
    expect(readFileSync(path.join(root, 'home/i26-alice/.profile'), 'utf8')).toBe('# from skel\n');
    expect(statSync(path.join(root, 'home/i26-alice/.profile')).uid).toBe(2610);
    expect(checkAccountFiles(root)).toBe(CLEAN);
    for (const r of [first]) expect(r.stdout + r.stderr).not.toContain('i26salt');

    const converged = fingerprint(root, files);
    const second = await run();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(fingerprint(root, files)).toBe(converged);

    // Drift by hand: alice's shell changed, alice dropped from docker and put in sudo, her password replaced.
    setLine('passwd', 'i26-alice', (l) => l.replace('/bin/bash', '/bin/sh'));
    setLine('group', 'docker', () => 'docker:x:2601:');
    setLine('gshadow', 'docker', () => 'docker:!::');
    setLine('group', 'sudo', () => 'sudo:x:27:i26-alice');
    setLine('gshadow', 'sudo', () => 'sudo:*::i26-alice');
    setLine('shadow', 'i26-alice', (l) => l.replace(HASH, '$6$other$xyz'));
    const drifted = fingerprint(root, files);
    const noop = await run('--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    const changes = reported(noop, 'user[i26-alice]').changes;
    expect(changes.map((c) => c.attribute).sort()).toEqual(['groups', 'password', 'shell']);
    expect(changes.find((c) => c.attribute === 'groups')).toMatchObject({ from: ['sudo'], to: ['docker'], removed: ['sudo'], added: ['docker'] });
    expect(changes.find((c) => c.attribute === 'password')).toMatchObject({ sensitive: true });
    expect(noop.stdout + noop.stderr).not.toMatch(/i26salt|\$6\$other/);
    expect(fingerprint(root, files)).toBe(drifted);

    const human = await cli(['apply', m, '--root', root, '--noop']);
    expect(human.stdout).toContain('      groups: +docker -sudo   # in place\n');
    expect(human.stdout + human.stderr).not.toMatch(/i26salt|\$6\$other/);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(line('passwd', 'i26-alice')).toBe('i26-alice:x:2610:2600:Alice Example:/home/i26-alice:/bin/bash');
    expect(line('group', 'docker')).toBe('docker:x:2601:i26-alice');
    expect(line('group', 'sudo')).toBe('sudo:x:27:');
    expect(line('shadow', 'i26-alice').split(':')[1]).toBe(HASH);
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await run()).code).toBe(0);
  });

  it('membership: minimum keeps a group joined by hand (no append trap); locked and expiry; absent removes the user, keeps the home', async () => {
    setLine('group', 'sudo', () => 'sudo:x:27:i26-alice');
    setLine('gshadow', 'sudo', () => 'sudo:*::i26-alice');
    const m = manifest('users-min.yaml', '    membership: minimum\n    locked: true\n    expiry: "2030-01-02"');
    const run = (...extra: string[]) => cli(['apply', m, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    // Locked: the '!' and expired on day 1 (no key login either); the declared expiry waits for the unlock.
    expect(
      reported(first, 'user[i26-alice]')
        .changes.map((c) => c.attribute)
        .sort(),
    ).toEqual(['locked']);
    expect(line('group', 'sudo')).toBe('sudo:x:27:i26-alice');
    expect(line('shadow', 'i26-alice').split(':')[1]).toBe('!' + HASH);
    expect(line('shadow', 'i26-alice').split(':')[7]).toBe('1');
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await run()).code).toBe(0);
    // Half-locked by hand (the expiry cleared): drift.
    setLine('shadow', 'i26-alice', (l) =>
      l
        .split(':')
        .map((f, i) => (i === 7 ? '' : f))
        .join(':'),
    );
    expect(reported(await run('--noop'), 'user[i26-alice]').changes.map((c) => [c.attribute, c.from, c.to])).toEqual([['locked', false, true]]);
    expect((await run()).code).toBe(2);

    const unlocked = manifest('users-unlocked.yaml', '    membership: minimum\n    locked: false\n    expiry: "2030-01-02"');
    const unlock = await cli(['apply', unlocked, '--root', root, '--format', 'json']);
    expect(
      reported(unlock, 'user[i26-alice]')
        .changes.map((c) => c.attribute)
        .sort(),
    ).toEqual(['expiry', 'locked']);
    expect(line('shadow', 'i26-alice').split(':')[1]).toBe(HASH);
    expect(line('shadow', 'i26-alice').split(':')[7]).toBe(String(Date.UTC(2030, 0, 2) / 86_400_000));
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await cli(['apply', unlocked, '--root', root])).code).toBe(0);

    const gone = path.join(t.root, 'gone.yaml');
    writeFileSync(gone, 'resources:\n  - kind: user\n    name: i26-bob\n    ensure: absent\n');
    const del = await cli(['apply', gone, '--root', root, '--format', 'json']);
    expect(del.code, del.stdout + del.stderr).toBe(2);
    expect(reported(del, 'user[i26-bob]')).toMatchObject({ action: 'delete', status: 'changed' });
    expect(line('passwd', 'i26-bob')).toBe('');
    expect(line('group', 'i26-ops')).toBe('i26-ops:x:2600:');
    expect(statSync(path.join(root, 'home/i26-bob')).isDirectory()).toBe(true);
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await cli(['apply', gone, '--root', root])).code).toBe(0);

    // removeHome: true takes the home with the account.
    const purge = path.join(t.root, 'purge.yaml');
    writeFileSync(purge, 'resources:\n  - kind: user\n    name: i26-alice\n    ensure: absent\n    removeHome: true\n');
    expect(statSync(path.join(root, 'home/i26-alice')).isDirectory()).toBe(true);
    const purged = await cli(['apply', purge, '--root', root, '--format', 'json']);
    expect(purged.code, purged.stdout + purged.stderr).toBe(2);
    expect(existsSync(path.join(root, 'home/i26-alice'))).toBe(false);
    expect(line('passwd', 'i26-alice')).toBe('');
    expect(checkAccountFiles(root)).toBe(CLEAN);
  });

  it('many users and groups in one run (applied in parallel by the engine) all land; pwck/grpck clean', async () => {
    const m = path.join(t.root, 'many.yaml');
    const names = Array.from({ length: 8 }, (_, i) => `i26-m${i}`);
    writeFileSync(
      m,
      `resources:\n${names.map((n, i) => `  - kind: group\n    name: ${n}g\n    gid: ${2700 + i}\n  - kind: user\n    name: ${n}\n    uid: ${2700 + i}\n    groups: [${n}g]\n    password: "$6$i26m$${'x'.repeat(20)}${i}"\n`).join('')}`,
    );
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    for (const n of names) expect(line('group', `${n}g`)).toMatch(new RegExp(`^${n}g:x:\\d+:${n}$`));
    expect(checkAccountFiles(root)).toBe(CLEAN);
    expect((await cli(['apply', m, '--root', root])).code).toBe(0);
  });

  it('bad input: a user name shadow-utils refuses is an error at file:line:col, nothing changed', async () => {
    const before = fingerprint(root, files);
    const m = path.join(t.root, 'bad.yaml');
    writeFileSync(m, 'resources:\n  - kind: user\n    name: i26-ok\n  - kind: user\n    name: Bad.Name\n');
    const run = await cli(['apply', m, '--root', root]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${m}:5:5 (at /resources/1/name): user[Bad.Name]: field name: must match pattern`);
    expect(fingerprint(root, files)).toBe(before);
  });

  it('a home that is a symlink out of the root is refused, nothing followed', async () => {
    const outside = path.join(t.root, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, path.join(root, 'home/i26-carol'));
    const m = path.join(t.root, 'carol.yaml');
    writeFileSync(m, 'resources:\n  - kind: user\n    name: i26-carol\n    uid: 2612\n');
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'user[i26-carol]')).toMatchObject({ status: 'failed', error: { code: 'FILE_IS_SYMLINK' } });
    expect(statSync(outside).uid).toBe(0);
  });
});
