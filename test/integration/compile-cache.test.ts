/**
 * One-shot `apply`/`plan` reuse the catalogue an earlier `apply` compiled while its
 * inputs are unchanged (src/catalogue/compile-cache.ts, stamp.ts), and compile fresh
 * after any change: a file edited with its size kept (twice within one second), a file
 * added, facts, flags, TSCONVERGE_* variables, a new executable. plan writes nothing; a
 * stored compile someone else could have written is not read; a catalogue holding a
 * secret is never stored. Real files, the real CLI (and the real single executable).
 *
 * Every run is in a network namespace of its own: the host's interfaces are facts (the
 * stamp covers them), and other tests' containers add and remove veth interfaces.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, REPO, createSandbox, type CliResult, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  sb = createSandbox('hg');
});
afterAll(() => sb?.cleanup());

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1100)); // compile-cache.ts SETTLE_MS

function run(args: string[], opts: { env?: Record<string, string>; exe?: string } = {}): Promise<CliResult & { how: string }> {
  const cmd = opts.exe ? [opts.exe] : [process.execPath, BIN];
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/unshare', ['--net', ...cmd, ...args, '--log-level', 'debug'], {
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, how: /catalogue: (.*)/.exec(stderr)?.[1] ?? `(no catalogue line) ${stderr}` }));
  });
}

/** Every file under a directory with its size, mode and mtime: "nothing written" assertions. */
function snapshot(dir: string): string {
  if (!existsSync(dir)) return '(none)';
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => {
      const p = path.join(d.parentPath, d.name);
      const st = statSync(p);
      return `${path.relative(dir, p)} ${st.size} ${st.mode.toString(8)} ${st.mtimeMs} ${st.ino}`;
    })
    .sort()
    .join('\n');
}

describe('one-shot apply/plan reuse of an unchanged compile', () => {
  it('reuses while every input is unchanged, compiles fresh after any change, and plan writes nothing', async () => {
    const root = path.join(path.dirname(sb.dir), 'hg-root');
    const state = path.join(root, 'var/lib/tsconverge');
    const stored = path.join(state, 'catalogue/compiled.json');
    sb.write('templates/page.hbs', 'hello {{params.name}}\n');
    sb.manifest(`
resources:
  - kind: file
    name: page
    path: /srv/page.txt
    template: templates/page.hbs
    parameters: { name: world }
`);
    const page = path.join(root, 'srv/page.txt');
    const apply = (...extra: string[]) => run(['apply', sb.dir, '--root', root, ...extra]);
    const plan = (...extra: string[]) => run(['plan', sb.dir, '--root', root, ...extra]);

    // Files changed within the last second are not stamped: compiled, nothing stored. The
    // template's mtime is set ahead so that this holds however long the run takes to start
    // on a loaded machine; it is set back (and the tree left to settle) afterwards.
    const template = path.join(sb.dir, 'templates/page.hbs');
    const ahead = new Date(Date.now() + 3600_000);
    utimesSync(template, ahead, ahead);
    let r = await apply();
    expect(r.code, r.stderr).toBe(2);
    expect(r.how).toMatch(/^compiled \(a file under the tree changed within the last second/);
    expect(existsSync(stored)).toBe(false);

    const past = new Date(Date.now() - 5000);
    utimesSync(template, past, past);
    await settle();
    // plan on a settled tree with no stored compile: compiled, and nothing written.
    const before = snapshot(state);
    r = await plan();
    expect(r.code, r.stderr).toBe(0);
    expect(r.how).toBe('compiled (no stored compile)');
    expect(snapshot(state)).toBe(before);

    r = await apply();
    expect(r.code, r.stderr).toBe(0);
    expect(r.how).toBe('compiled (no stored compile)');
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(stored)).mode & 0o777).toBe(0o700);

    // Reused by apply and by plan; plan reads and writes nothing.
    r = await apply();
    expect(r.code, r.stderr).toBe(0);
    expect(r.how).toMatch(/^reused: the inputs are unchanged since the compile of /);
    const stable = snapshot(state);
    r = await plan();
    expect(r.code, r.stderr).toBe(0);
    expect(r.how).toMatch(/^reused/);
    r = await run(['apply', '--noop', sb.dir, '--root', root]);
    expect(r.how).toMatch(/^reused/);
    expect(snapshot(state)).toBe(stable);

    // Flags, facts and TSCONVERGE_* variables are inputs: each compiles fresh.
    const changed = 'compiled (since the stored compile the options or TSCONVERGE_* variables changed)';
    expect((await plan('--node', 'other')).how).toBe(changed);
    expect((await plan('--environment', 'prod')).how).toBe(changed);
    expect((await plan('--secrets-dir', '/nonexistent')).how).toMatch(/^reused/); // not a fleet tree: no secrets are read
    writeFileSync(path.join(root, 'facts.json'), '{"role":"web"}');
    expect((await plan('--facts', path.join(root, 'facts.json'))).how).toBe('compiled (since the stored compile the facts changed (role))');
    expect((await run(['plan', sb.dir, '--root', root], { env: { TSCONVERGE_SOMETHING: 'x' } })).how).toBe(changed);
    expect((await plan('--no-compile-cache')).how).toBe('compiled (--no-compile-cache)');
    expect((await plan()).how).toMatch(/^reused/);
    expect(snapshot(state)).toBe(stable);

    // A template edited in place with its size and mtime kept: compiled fresh, the edit applied.
    const tpl = path.join(sb.dir, 'templates/page.hbs');
    const st = statSync(tpl);
    writeFileSync(tpl, 'HELLO {{params.name}}\n');
    utimesSync(tpl, st.atime, st.mtime);
    r = await apply();
    expect(r.code, r.stderr).toBe(2);
    // Fresh either way: unsettled (ctime within the last second) or, on a loaded machine
    // where the run starts later, a stamp whose ctime differs from the stored one.
    expect(r.how).toMatch(/^compiled \((a file under the tree changed within the last second|since the stored compile )/);
    expect(readFileSync(page, 'utf8')).toBe('HELLO world\n');
    // Edited again within the same second, same size: still compiled fresh.
    writeFileSync(tpl, 'HeLLo {{params.name}}\n');
    r = await apply();
    expect(r.code, r.stderr).toBe(2);
    expect(r.how).not.toMatch(/^reused/);
    expect(readFileSync(page, 'utf8')).toBe('HeLLo world\n');

    // A file added to the tree: compiled fresh, and part of the catalogue.
    await settle();
    expect((await apply()).how).not.toMatch(/^reused/);
    expect((await apply()).how).toMatch(/^reused/);
    sb.write('more.yaml', 'resources:\n  - kind: file\n    name: more\n    path: /srv/more.txt\n    content: "more\\n"\n');
    r = await apply();
    expect(r.code, r.stderr).toBe(2);
    expect(r.how).not.toMatch(/^reused/);
    expect(readFileSync(path.join(root, 'srv/more.txt'), 'utf8')).toBe('more\n');
  });

  it('does not read a stored compile another user could have written', async () => {
    const root = path.join(path.dirname(sb.dir), 'hg-owner');
    const state = path.join(root, 'var/lib/tsconverge');
    const stored = path.join(state, 'catalogue/compiled.json');
    const m = sb.write('owner/m.yaml', 'resources:\n  - kind: file\n    name: o\n    path: /srv/o.txt\n    content: "o\\n"\n');
    await settle();
    const plan = () => run(['plan', m, '--root', root]);
    await run(['apply', m, '--root', root]);
    await run(['apply', m, '--root', root]);
    expect((await plan()).how).toMatch(/^reused/);

    chmodSync(stored, 0o620);
    expect((await plan()).how).toBe(`compiled (${stored} is not this user's alone)`);
    chmodSync(stored, 0o600);
    chownSync(stored, 65534, 65534);
    expect((await plan()).how).toBe(`compiled (${stored} is not this user's alone)`);
    chownSync(stored, 0, 0);
    expect((await plan()).how).toMatch(/^reused/);
    chmodSync(state, 0o777);
    expect((await plan()).how).toBe(`compiled (${state} is not this user's alone)`);
    chmodSync(state, 0o755);
    expect((await plan()).how).toMatch(/^reused/);
  });

  it('never stores a catalogue that holds a secret value', async () => {
    const root = path.join(path.dirname(sb.dir), 'hg-secret');
    const stored = path.join(root, 'var/lib/tsconverge/catalogue/compiled.json');
    const sensitive = sb.write(
      'secret/s.yaml',
      'resources:\n  - kind: file\n    name: s\n    path: /srv/s.txt\n    content: "hg-not-for-disk\\n"\n    sensitive: true\n',
    );
    await settle();
    await run(['apply', sensitive, '--root', root]);
    expect((await run(['apply', sensitive, '--root', root])).how).not.toMatch(/^reused/);
    expect(existsSync(stored)).toBe(false);

    // A TSCONVERGE_SECRET_* value inside a plain attribute: not stored either.
    rmSync(path.join(sb.dir, 'secret'), { recursive: true });
    const env = sb.write('envsecret/e.yaml', 'resources:\n  - kind: file\n    name: e\n    path: /srv/e.txt\n    content: "token hg-env-secret-value\\n"\n');
    await settle();
    const withEnv = { env: { TSCONVERGE_SECRET_HG: 'hg-env-secret-value' } };
    await run(['apply', env, '--root', root], withEnv);
    expect((await run(['apply', env, '--root', root], withEnv)).how).not.toMatch(/^reused/);
    expect(existsSync(stored)).toBe(false);
  });

  it('leaves its own state directory out of the stamp when it lies inside the tree', async () => {
    const m = sb.write('inside/m.yaml', 'resources:\n  - kind: file\n    name: i\n    path: /srv/i.txt\n    content: "i\\n"\n');
    const state = path.join(sb.dir, 'inside/state');
    const root = path.join(path.dirname(sb.dir), 'hg-inside');
    await settle();
    const apply = () => run(['apply', m, '--root', root, '--state-dir', state]);
    expect((await apply()).how).toBe('compiled (no stored compile)');
    // Every apply writes its state there; the next run still reuses.
    expect((await apply()).how).toMatch(/^reused/);
    expect((await apply()).how).toMatch(/^reused/);
    // A file beside it is part of the tree.
    writeFileSync(path.join(sb.dir, 'inside/other.txt'), 'x');
    expect((await apply()).how).not.toMatch(/^reused/);
  });

  it('compiles fresh with a new executable (the single executable, copied and replaced)', async () => {
    const exeSrc = path.join(REPO, 'dist/tsconverge');
    expect(existsSync(exeSrc), 'dist/tsconverge: run npm run build').toBe(true);
    const exe = path.join(path.dirname(sb.dir), 'hg-tsconverge');
    const root = path.join(path.dirname(sb.dir), 'hg-exe');
    const m = sb.write('exe/m.yaml', 'resources:\n  - kind: file\n    name: x\n    path: /srv/x.txt\n    content: "x\\n"\n');
    copyFileSync(exeSrc, exe);
    chmodSync(exe, 0o755);
    await settle();
    await run(['apply', m, '--root', root], { exe });
    expect((await run(['plan', m, '--root', root], { exe })).how).toMatch(/^reused/);
    // The same bytes as a new file (a reinstall): the program's stamp changed.
    rmSync(exe);
    copyFileSync(exeSrc, exe);
    chmodSync(exe, 0o755);
    await settle();
    expect((await run(['plan', m, '--root', root], { exe })).how).toBe('compiled (since the stored compile the program changed)');
  });
});
