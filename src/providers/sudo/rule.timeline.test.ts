/**
 * sudo.rule through the real CLI against a temp root, checked by the real visudo -cf
 * together with the root's /etc/sudoers and its other drop-in files.
 *
 * Timeline: apply -> changed (0440); again -> nothing; a line added by hand and a command
 * changed -> noop reports, exit 2, nothing touched; apply -> repaired. A rule visudo
 * rejects (a syntax error; an alias another file of sudoers.d already defines): exit 4,
 * a clear error naming the file and line, the old rule byte-identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, fingerprint, reported, tempRoot } from '../hostio.testkit.js';
import { seedRoot } from '../user/accounts.testkit.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
beforeAll(() => {
  t = tempRoot('i26-sudo');
  root = path.join(t.root, 'root');
  seedRoot(root);
  mkdirSync(path.join(root, 'etc/sudoers.d'), { recursive: true });
  writeFileSync(path.join(root, 'etc/sudoers'), 'Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n', { mode: 0o440 });
  writeFileSync(path.join(root, 'etc/sudoers.d/10-other'), 'Cmnd_Alias I26_RESTART = /usr/bin/systemctl restart app\n', { mode: 0o440 });
});
afterAll(() => t?.cleanup());

function manifest(name: string, rule: string): string {
  const file = path.join(t.root, name);
  writeFileSync(
    file,
    `
resources:
  - kind: group
    name: i26-ops
  - kind: sudo.rule
    name: i26-ops
${rule}
`,
  );
  return file;
}

const rulePath = (): string => path.join(root, 'etc/sudoers.d/i26-ops');
const files = ['etc/sudoers.d/i26-ops'];

describe('sudo.rule timeline', () => {
  const m = (): string =>
    manifest('sudo.yaml', '    who: ["%i26-ops"]\n    nopasswd: true\n    commands: [/usr/bin/systemctl restart app, /usr/bin/journalctl]');
  const run = (file: string, ...extra: string[]) => cli(['apply', file, '--root', root, '--format', 'json', ...extra]);

  it('apply -> changed; again -> nothing; drift -> noop reports, touches nothing; apply -> repaired', async () => {
    const first = await run(m());
    expect(first.code, first.stdout + first.stderr).toBe(2);
    expect(reported(first, 'sudo.rule[i26-ops]')).toMatchObject({ action: 'create', status: 'changed' });
    const text = readFileSync(rulePath(), 'utf8');
    expect(text.split('\n')[1]).toBe('%i26-ops ALL=(ALL:ALL) NOPASSWD: /usr/bin/systemctl restart app, /usr/bin/journalctl');
    expect((statSync(rulePath()).mode & 0o777).toString(8)).toBe('440');
    execFileSync('visudo', ['-cf', rulePath()]);

    const converged = fingerprint(root, files);
    expect((await run(m())).code).toBe(0);
    expect(fingerprint(root, files)).toBe(converged);

    writeFileSync(rulePath(), text.replace('/usr/bin/journalctl', 'ALL') + 'i26-mallory ALL=(ALL) NOPASSWD: ALL\n');
    const drifted = fingerprint(root, files);
    const noop = await run(m(), '--noop');
    expect(noop.code, noop.stdout + noop.stderr).toBe(2);
    const changes = reported(noop, 'sudo.rule[i26-ops]').changes;
    expect(changes.map((c) => c.attribute).sort()).toEqual(['commands', 'runAs', 'who']);
    expect(changes.find((c) => c.attribute === 'who')).toMatchObject({ removed: ['i26-mallory'] });
    expect(fingerprint(root, files)).toBe(drifted);

    const repair = await run(m());
    expect(repair.code, repair.stdout + repair.stderr).toBe(2);
    expect(readFileSync(rulePath(), 'utf8')).toBe(text);
    expect((await run(m())).code).toBe(0);
  });

  it('a rule visudo rejects changes nothing: a syntax error, and a rule checked together with a broken file', async () => {
    const renderedAlone = '%i26-ops ALL=(ALL:ALL) /bin/true\n';
    const before = fingerprint(root, files);
    // `runAs` passes the schema but is not valid sudoers.
    const bad = await run(manifest('sudo-bad.yaml', '    who: ["%i26-ops"]\n    runAs: "ALL:ALL:ALL"'));
    expect(bad.code, bad.stdout + bad.stderr).toBe(4);
    expect(reported(bad, 'sudo.rule[i26-ops]')).toMatchObject({
      status: 'failed',
      error: { code: 'CONFIG_REJECTED', message: expect.stringMatching(/visudo rejected .*\/etc\/sudoers\.d\/i26-ops:2:.*syntax error.*left unchanged/s) },
    });
    expect(fingerprint(root, files)).toBe(before);

    // Checked together with the rest: the new rule is valid alone (visudo -cf of it passes), but
    // another file of sudoers.d is broken, so the whole configuration is refused, and the
    // message names that file and line.
    writeFileSync(path.join(root, 'etc/sudoers.d/20-broken'), 'Cmnd_Alias I26_RESTART = /bin/false\n', { mode: 0o440 });
    const changed = manifest('sudo-changed.yaml', '    who: ["%i26-ops"]\n    commands: [/bin/true]');
    const together = await run(changed);
    expect(together.code, together.stdout + together.stderr).toBe(4);
    expect(reported(together, 'sudo.rule[i26-ops]').error?.message).toMatch(/\/etc\/sudoers\.d\/20-broken:1:.*already defined/s);
    expect(fingerprint(root, files)).toBe(before);
    writeFileSync(path.join(t.root, 'alone'), renderedAlone);
    execFileSync('visudo', ['-cf', path.join(t.root, 'alone')]);

    // A comma inside a command is bad input: exit 1 with the field, nothing run.
    const comma = await run(manifest('sudo-comma.yaml', '    who: ["%i26-ops"]\n    commands: ["/bin/true, /bin/false"]'));
    expect(comma.code, comma.stdout + comma.stderr).toBe(1);
    expect(comma.json.errors[0]).toMatchObject({ code: 'MANIFEST_INVALID', message: expect.stringContaining('commands/0'), location: { line: 8, column: 16 } });
    expect(fingerprint(root, files)).toBe(before);

    // ensure: absent removes the rule, once the configuration without it checks.
    rmSync(path.join(root, 'etc/sudoers.d/20-broken'));
    const gone = manifest('sudo-gone.yaml', '    who: ["%i26-ops"]\n    ensure: absent');
    const del = await run(gone);
    expect(del.code, del.stdout + del.stderr).toBe(2);
    expect(reported(del, 'sudo.rule[i26-ops]')).toMatchObject({ action: 'delete', status: 'changed' });
    expect(existsSync(rulePath())).toBe(false);
    expect((await run(gone)).code).toBe(0);
  });
});
