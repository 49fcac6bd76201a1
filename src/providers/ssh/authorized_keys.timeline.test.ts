/**
 * ssh.authorized_keys through the real CLI against a temp root, with a user made by the
 * real useradd -P and keys made by the real ssh-keygen.
 *
 * Timeline: apply -> changed (file 0600, .ssh 0700, owned by the user); again -> nothing;
 * a key added by hand -> noop reports it (fingerprint and comment only), exit 2, nothing
 * touched; apply -> the key is gone. A key removed from the catalogue is revoked at the
 * next run; reordered keys are no change; a .ssh that is a symlink is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, fingerprint, reported, tempRoot } from '../hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from '../user/accounts.testkit.js';
import { generateKey } from '../../../test/support/sshd.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
const keys: string[] = [];
const fp = (pub: string): string => execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: pub + '\n', encoding: 'utf8' }).split(' ')[1]!;
const blob = (pub: string): string => pub.split(' ')[1]!;

beforeAll(() => {
  t = tempRoot('i26-keys');
  root = path.join(t.root, 'root');
  seedRoot(root);
  for (const n of ['one', 'two', 'three']) keys.push(generateKey(path.join(t.root, `id_${n}`), `i26-${n}@test`));
});
afterAll(() => t?.cleanup());

function manifest(name: string, keyLines: string): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: user
    name: i26-dave
    uid: 2620
    shell: /bin/sh
  - kind: ssh.authorized_keys
    name: i26-dave
    keys:
${keyLines}
`,
  );
  return file;
}

const akPath = (): string => path.join(root, 'home/i26-dave/.ssh/authorized_keys');

describe('ssh.authorized_keys timeline', () => {
  it('apply -> changed; again -> nothing; key added by hand -> noop reports, touches nothing; apply -> repaired; removed key revoked', async () => {
    const m = manifest(
      'keys.yaml',
      `      - ${JSON.stringify(keys[0])}\n      - key: ${JSON.stringify(keys[1])}\n        options: [no-port-forwarding, 'from="127.0.0.1"']`,
    );
    const run = (file = m, ...extra: string[]) => cli(['apply', file, '--root', root, '--format', 'json', ...extra]);
    const first = await run();
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'ssh.authorized_keys[i26-dave]')).toMatchObject({ action: 'create', status: 'changed' });
    expect(readFileSync(akPath(), 'utf8')).toBe(`${keys[0]}\nno-port-forwarding,from="127.0.0.1" ${keys[1]}\n`);
    const f = statSync(akPath());
    const d = statSync(path.dirname(akPath()));
    expect([f.uid, (f.mode & 0o777).toString(8), d.uid, (d.mode & 0o777).toString(8)]).toEqual([2620, '600', 2620, '700']);
    expect(checkAccountFiles(root)).toBe(CLEAN);
    // Plans and reports show fingerprints and comments, never key material.
    expect(JSON.stringify(reported(first, 'ssh.authorized_keys[i26-dave]').changes)).toContain(fp(keys[0]!));
    for (const k of keys) expect(first.stdout + first.stderr).not.toContain(blob(k));

    const converged = fingerprint(root, ['home/i26-dave/.ssh/authorized_keys']);
    expect((await run()).code).toBe(0);
    // The same set in another order: no change, no rewrite.
    const reordered = manifest(
      'keys-reordered.yaml',
      `      - key: ${JSON.stringify(keys[1])}\n        options: [no-port-forwarding, 'from="127.0.0.1"']\n      - ${JSON.stringify(keys[0])}`,
    );
    expect((await run(reordered)).code).toBe(0);
    expect(fingerprint(root, ['home/i26-dave/.ssh/authorized_keys'])).toBe(converged);

    writeFileSync(akPath(), readFileSync(akPath(), 'utf8') + keys[2] + '\n');
    const drifted = fingerprint(root, ['home/i26-dave/.ssh/authorized_keys']);
    const noop = await run(m, '--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    const change = reported(noop, 'ssh.authorized_keys[i26-dave]').changes[0] as { removed?: string[]; added?: string[] };
    expect(change.removed).toEqual([`ssh-ed25519 ${fp(keys[2]!)} i26-three@test`]);
    expect(change.added ?? []).toEqual([]);
    for (const k of keys) expect(noop.stdout + noop.stderr).not.toContain(blob(k));
    expect(fingerprint(root, ['home/i26-dave/.ssh/authorized_keys'])).toBe(drifted);

    const repair = await run();
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(readFileSync(akPath(), 'utf8')).not.toContain(blob(keys[2]!));
    expect((await run()).code).toBe(0);

    // Modes sshd would refuse the keys for (StrictModes): the file writable by others, .ssh owned by someone else.
    chmodSync(akPath(), 0o666);
    chownSync(path.dirname(akPath()), 4242, 4242);
    const modes = await run(m, '--noop');
    expect(modes.code, modes.stdout + modes.stderr).toBe(2);
    expect(reported(modes, 'ssh.authorized_keys[i26-dave]').changes.map((c) => [c.attribute, c.from, c.to])).toEqual([['strictModes', false, true]]);
    expect((statSync(akPath()).mode & 0o777).toString(8)).toBe('666');
    expect((await run()).code).toBe(2);
    expect([(statSync(akPath()).mode & 0o777).toString(8), statSync(path.dirname(akPath())).uid]).toEqual(['600', 2620]);
    expect((await run()).code).toBe(0);

    // A key removed from the catalogue is revoked at the next run.
    const fewer = manifest('keys-fewer.yaml', `      - ${JSON.stringify(keys[0])}`);
    const revoke = await run(fewer);
    expect(revoke.code, revoke.stdout + revoke.stderr).toBe(2);
    expect(readFileSync(akPath(), 'utf8')).toBe(`${keys[0]}\n`);
    expect((await run(fewer)).code).toBe(0);
  });

  it('exclusive: false keeps keys added by hand and adds the declared ones', async () => {
    writeFileSync(akPath(), `# by hand\n${keys[2]}\n`);
    const m = manifest('keys-inclusive.yaml', `      - ${JSON.stringify(keys[0])}\n    exclusive: false`);
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(readFileSync(akPath(), 'utf8')).toBe(`# by hand\n${keys[2]}\n${keys[0]}\n`);
    expect((await cli(['apply', m, '--root', root])).code).toBe(0);
  });

  it('a .ssh that is a symlink is refused, the file it points at untouched', async () => {
    const ssh = path.dirname(akPath());
    renameSync(ssh, ssh + '.old');
    mkdirSync(path.join(root, 'etc/target'), { recursive: true });
    symlinkSync('/etc/target', ssh);
    const m = manifest('keys-link.yaml', `      - ${JSON.stringify(keys[1])}`);
    const run = await cli(['apply', m, '--root', root, '--format', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(reported(run, 'ssh.authorized_keys[i26-dave]')).toMatchObject({ status: 'failed', error: { code: 'FILE_IS_SYMLINK' } });
    expect(statSync(path.join(root, 'etc/target')).mode & 0o777).toBe(0o755);
    expect(() => statSync(path.join(root, 'etc/target/authorized_keys'))).toThrow();
  });
});
