/**
 * One run at a time and clean interrupts, through the real CLI on real files:
 * - a second apply while another process holds the run lock exits 1 at once with
 *   "a run is already in progress (pid N, since T)" and changes nothing; plan still runs;
 *   --wait-for-lock waits for the holder; a SIGKILLed holder's lock is taken over;
 * - SIGTERM in the middle of an apply that rewrites many files: exit 143, every file is
 *   either its old or its new content (sha256), no file that is not declared is left
 *   behind (no temp file), the lock is released, and the next run converges the rest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { BIN, REPO, createSandbox, runCli, type Sandbox } from '../support/harness.js';

let sb: Sandbox;
beforeAll(() => {
  sb = createSandbox('hr-runctl');
});
afterAll(() => sb?.cleanup());

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Every regular file and symlink under dir, relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p, base) : [path.relative(base, p)];
  });
}

/** A process (TypeScript through tsx) that holds the run lock of stateDir until killed. */
function lockHolder(stateDir: string, releaseAfterMs?: number): ChildProcess & { out: () => string } {
  const mod = path.join(REPO, 'src/engine/lock.ts');
  const code = `import { acquireRunLock } from ${JSON.stringify(mod)};
const l = await acquireRunLock(${JSON.stringify(stateDir)}, { command: 'apply' });
console.log('HELD');
${releaseAfterMs === undefined ? 'setInterval(() => {}, 1000);' : `setTimeout(() => l.release().then(() => process.exit(0)), ${releaseAfterMs});`}`;
  const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  c.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return Object.assign(c, { out: () => out });
}

/** `ms` only bounds a hang: the condition is awaited, not timed (a loaded machine may take long). */
async function until(check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('run lock through the CLI', () => {
  it('a second apply exits 1 at once and changes nothing; plan runs; --wait-for-lock waits; a dead holder is taken over', async () => {
    const m = sb.write('lock/m.yaml', 'resources:\n  - { kind: file, name: /etc/locked, content: "one\\n" }\n');
    const stateDir = path.join(sb.root, 'state-lock');
    const holder = lockHolder(stateDir);
    try {
      await until(() => holder.out().includes('HELD'));
      const t0 = Date.now();
      const busy = await runCli(['apply', m, '--root', sb.root, '--state-dir', stateDir]);
      expect(busy.code, busy.stderr).toBe(1);
      expect(busy.stderr).toMatch(new RegExp(`a run is already in progress \\(pid ${holder.pid}, since \\d{4}-\\d\\d-\\d\\dT[^)]+\\)`));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(existsSync(path.join(sb.root, 'etc/locked'))).toBe(false);
      // TSCONVERGE_STATE_DIR is the same lock.
      expect((await runCli(['apply', m, '--root', sb.root], { TSCONVERGE_STATE_DIR: stateDir })).code).toBe(1);
      // plan does not need the lock.
      expect((await runCli(['plan', m, '--root', sb.root])).code).toBe(2);
    } finally {
      holder.kill('SIGKILL');
    }
    await new Promise((r) => holder.once('exit', r));
    // The holder died with its lock in place: taken over.
    expect(existsSync(path.join(stateDir, 'run.lock'))).toBe(true);
    const after = await runCli(['apply', m, '--root', sb.root, '--state-dir', stateDir]);
    expect(after.code, after.stderr).toBe(2);
    expect(existsSync(path.join(stateDir, 'run.lock'))).toBe(false);

    const brief = lockHolder(stateDir, 1500);
    await until(() => brief.out().includes('HELD'));
    const m2 = sb.write('lock/m.yaml', 'resources:\n  - { kind: file, name: /etc/locked, content: "two\\n" }\n');
    const waited = await runCli(['apply', m2, '--root', sb.root, '--state-dir', stateDir, '--wait-for-lock', '30']);
    expect(waited.code, waited.stderr).toBe(2);
    expect(readFileSync(path.join(sb.root, 'etc/locked'), 'utf8')).toBe('two\n');
  }, 60_000);

  it('SIGINT while waiting for the lock stops the wait at once: exit 130, nothing changed', async () => {
    const m = sb.write('lockwait/m.yaml', 'resources:\n  - { kind: file, name: /etc/waited, content: "x\\n" }\n');
    const stateDir = path.join(sb.root, 'state-wait');
    const holder = lockHolder(stateDir);
    try {
      await until(() => holder.out().includes('HELD'));
      const child = spawn(process.execPath, [BIN, 'apply', m, '--root', sb.root, '--state-dir', stateDir, '--wait-for-lock', '60'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      await until(() => stderr.includes('waiting up to 60 s'));
      const t0 = Date.now();
      child.kill('SIGINT');
      expect(await code, stderr).toBe(130);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(existsSync(path.join(sb.root, 'etc/waited'))).toBe(false);
      expect(JSON.parse(readFileSync(path.join(stateDir, 'run.lock'), 'utf8'))).toMatchObject({ pid: holder.pid });
    } finally {
      holder.kill('SIGKILL');
    }
  }, 60_000);

  it('the default state dir is ROOT/var/lib/tsconverge, and it is left without a lock', async () => {
    const m = sb.write('default/m.yaml', 'resources:\n  - { kind: file, name: /etc/default-state, content: "x\\n" }\n');
    expect((await runCli(['apply', m, '--root', sb.root])).code).toBe(2);
    expect(statSync(path.join(sb.root, 'var/lib/tsconverge')).isDirectory()).toBe(true);
    // What the run remembers (applied.json) stays; the lock does not.
    expect(readdirSync(path.join(sb.root, 'var/lib/tsconverge'))).not.toContain('run.lock');
  });
});

describe('SIGTERM during an apply', () => {
  const N = 160;
  const content = (v: string, i: number): string => `${v}-${i}\n`.repeat(2000);
  const manifest = (v: string): string =>
    'resources:\n' +
    Array.from(
      { length: N },
      (_, i) => `  - { kind: file, name: /srv/many/f${i}.txt, content: "${content(v, i).replace(/\n/g, '\\n')}", validate: "sleep 0.1" }\n`,
    ).join('');

  it('leaves every file old or new, no temp file, the lock released (exit 143); the next run converges', async () => {
    const root = path.join(sb.root, 'sig');
    const dir = 'sig';
    const m = sb.write(`${dir}/m.yaml`, manifest('old'));
    const first = await runCli(['apply', m, '--root', root, '--concurrency', '8']);
    expect(first.code, first.stderr).toBe(2);
    const file = (i: number): string => path.join(root, `srv/many/f${i}.txt`);
    const oldSha = Array.from({ length: N }, (_, i) => sha(file(i)));
    const hash = (s: string): string => createHash('sha256').update(s).digest('hex');
    const newSha = Array.from({ length: N }, (_, i) => hash(content('new', i)));
    expect(oldSha[0]).toBe(hash(content('old', 0)));

    sb.write(`${dir}/m.yaml`, manifest('new'));
    const child = spawn(process.execPath, [BIN, 'apply', m, '--root', root, '--concurrency', '8', '--format', 'json'], {
      env: { ...process.env, NO_COLOR: '1' },
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
    const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    await until(() => (stderr.match(/: update/g) ?? []).length >= 12);
    child.kill('SIGTERM');
    expect(await code, stderr).toBe(143);

    const report = JSON.parse(stdout) as { interrupted?: boolean; resources: { status: string; error?: { code: string } }[] };
    expect(report.interrupted).toBe(true);
    const skipped = report.resources.filter((r) => r.status === 'skipped');
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.every((r) => r.error?.code === 'INTERRUPTED')).toBe(true);
    const changedCount = report.resources.filter((r) => r.status === 'changed').length;
    expect(changedCount).toBeGreaterThan(0);

    let nowNew = 0;
    for (let i = 0; i < N; i++) {
      const h = sha(file(i));
      expect([oldSha[i], newSha[i]], `f${i}.txt`).toContain(h);
      if (h === newSha[i]) nowNew++;
    }
    expect(nowNew).toBe(changedCount);
    const declared = new Set(Array.from({ length: N }, (_, i) => `srv/many/f${i}.txt`));
    // What the run remembers; the stored compile too when the manifest had settled (>1 s old) by the
    // time the run started, as on a loaded machine (compile-cache.ts).
    const state = new Set(['var/lib/tsconverge/applied.json', 'var/lib/tsconverge/owed.json', 'var/lib/tsconverge/catalogue/compiled.json']);
    expect(walk(root).filter((f) => !declared.has(f) && !state.has(f))).toEqual([]); // no temp file, no lock
    expect(existsSync(path.join(root, 'var/lib/tsconverge/run.lock'))).toBe(false);

    const next = await runCli(['apply', m, '--root', root, '--concurrency', '8']);
    expect(next.code, next.stderr).toBe(2);
    for (let i = 0; i < N; i++) expect(sha(file(i))).toBe(newSha[i]);
    expect((await runCli(['apply', m, '--root', root])).code).toBe(0);
  }, 600_000); // a bound on a hang, not a timing: 160 files with a validate each, on a loaded machine
});
