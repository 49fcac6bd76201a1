/**
 * backup.volume when things go wrong, with real restic and real containers:
 * - a wrong password, or a repository that cannot be reached: that resource fails with a
 *   clear error (plan and apply), the password is nowhere in the output, every container
 *   keeps running and other resources still converge;
 * - a run interrupted (SIGTERM) while the container is stopped for the backup: it runs again;
 * - a run killed (SIGKILL, restic too) mid-backup leaves this host's stale lock; the next
 *   run removes it and succeeds;
 * - a live lock of another host is waited for (lockWait), then reported with its holder.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, docker, freePort, runCli } from '../support/harness.js';
import {
  PASSWORD,
  backupSandbox,
  dirFingerprint,
  resticCli,
  snapshotsIn,
  stateOf,
  writerCommand,
  type BackupSandbox,
} from '../../src/providers/backup/backup.testkit.js';

let s: BackupSandbox;
const test = (): string => s.label.split('=')[1]!;
const locks = (): string[] => readdirSync(path.join(s.repo, 'locks'));

beforeAll(() => {
  s = backupSandbox();
  resticCli(s.repo, ['init']);
  // 150 MB that does not compress: restic takes a few seconds, long enough to interrupt.
  docker('volume', 'create', '--label', s.label, `${s.pfx}-big`);
  docker(
    'run',
    '--rm',
    '--network',
    'none',
    '--label',
    s.label,
    '-v',
    `${s.pfx}-big:/d`,
    'local/busybox:1',
    'sh',
    '-c',
    'for i in 1 2 3; do head -c 50000000 /dev/urandom > /d/f$i; done',
  );
});
afterAll(() => s?.cleanup());

function manifest(file: string, backup: Record<string, unknown>): string {
  return s.write(
    file,
    JSON.stringify({
      resources: [
        { kind: 'docker.volume', name: `${s.pfx}-data`, labels: { 'tsconverge-test': test() } },
        {
          kind: 'docker.container',
          name: `${s.pfx}-app`,
          image: 'local/busybox:1',
          networks: ['none'],
          command: writerCommand(),
          labels: { 'tsconverge-test': test() },
          mounts: [
            { type: 'volume', source: `${s.pfx}-data`, target: '/data' },
            { type: 'volume', source: `${s.pfx}-big`, target: '/big' },
          ],
        },
        {
          kind: 'backup.volume',
          name: 'b',
          volumes: [`${s.pfx}-data`],
          repository: s.repo,
          passwordFile: s.passwordFile,
          quiesce: 'stop',
          require: [`docker.container[${s.pfx}-app]`],
          ...backup,
        },
        { kind: 'file', name: '/etc/after-backup', content: 'still converged\n', require: [] },
      ],
    }),
  );
}

const startedAt = (name: string): string => docker('inspect', '--format', '{{.State.StartedAt}}', name);

describe('backup.volume failures', () => {
  it('a wrong password: that resource fails clearly, nothing written, the container keeps running, the rest converges', async () => {
    const ok = await runCli(['apply', manifest('ok.json', {}), '--root', s.root]);
    expect(ok.code, ok.stderr + ok.stdout).toBe(2);
    const since = startedAt(`${s.pfx}-app`);
    const repo = dirFingerprint(s.repo);
    execFileSync('sh', ['-c', `printf 'not-the-password\\n' > "$1"`, 'sh', path.join(s.root, s.passwordFile)]);
    const m = manifest('wrong.json', { every: '1s' });
    for (const cmd of ['plan', 'apply']) {
      const r = await runCli([cmd, m, '--root', s.root, '--format', 'json']);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      const b = r.json.resources.find((x: any) => x.id === 'backup.volume[b]');
      expect(b.status).toBe('failed');
      expect(b.error).toMatchObject({ code: 'BACKUP_REPOSITORY', message: expect.stringContaining(`wrong password for repository ${s.repo}`) });
      expect(r.stdout + r.stderr).not.toContain('not-the-password');
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    }
    expect(readFileSync(path.join(s.root, 'etc/after-backup'), 'utf8')).toBe('still converged\n');
    expect(stateOf(`${s.pfx}-app`)).toBe('running');
    expect(startedAt(`${s.pfx}-app`)).toBe(since);
    expect(dirFingerprint(s.repo)).toBe(repo);
    execFileSync('sh', ['-c', `printf '%s\\n' "$2" > "$1"`, 'sh', path.join(s.root, s.passwordFile), PASSWORD]);
    // A password file others may read is refused before restic runs.
    execFileSync('chmod', ['0644', path.join(s.root, s.passwordFile)]);
    const loose = await runCli(['plan', m, '--root', s.root]);
    expect(loose.code).toBe(4);
    expect(loose.stdout + loose.stderr).toContain('chmod 0600');
    execFileSync('chmod', ['0600', path.join(s.root, s.passwordFile)]);
  }, 180_000);

  it('an unreachable sftp repository: fails clearly, the container keeps running', async () => {
    const port = await freePort();
    const since = startedAt(`${s.pfx}-app`);
    const m = manifest('unreachable.json', {
      repository: `sftp:root@127.0.0.1:/srv/nothing`,
      sshCommand: ['ssh', '-p', String(port), '-o', 'BatchMode=yes', 'root@127.0.0.1', '-s', 'sftp'],
    });
    const r = await runCli(['apply', m, '--root', s.root, '--format', 'json']);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    const b = r.json.resources.find((x: any) => x.id === 'backup.volume[b]');
    expect(b.error.code).toBe('BACKUP_REPOSITORY');
    expect(b.error.message).toContain('is unreachable');
    // restic copies ssh's own stderr ("Connection refused") on a goroutine and may exit before
    // it does; its Fatal line then names the sftp session that never started (seen in CI).
    expect(b.error.message).toMatch(/Connection refused|unable to start the sftp session/);
    expect(startedAt(`${s.pfx}-app`)).toBe(since);
  }, 120_000);

  it('SIGTERM while the container is stopped for the backup: it runs again, and the next run succeeds', async () => {
    const m = manifest('big.json', { volumes: [`${s.pfx}-big`] });
    const child = spawn(process.execPath, [BIN, 'backup', 'run', 'b', '--manifests', m, '--root', s.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (stateOf(`${s.pfx}-app`) !== 'exited') {
      if (Date.now() > deadline) throw new Error(`the container was never stopped: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    expect(await exited, err).toBe(143);
    expect(stateOf(`${s.pfx}-app`)).toBe('running');
    expect(locks()).toEqual([]);
    const again = await runCli(['backup', 'run', 'b', '--manifests', m, '--root', s.root]);
    expect(again.code, again.stderr).toBe(2);
    expect(stateOf(`${s.pfx}-app`)).toBe('running');
  }, 180_000);

  it('SIGKILL while the container is stopped for the backup: the guard starts it again at once', async () => {
    const m = manifest('big.json', { volumes: [`${s.pfx}-big`] });
    const child = spawn(process.execPath, [BIN, 'backup', 'run', 'b', '--manifests', m, '--root', s.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const deadline = Date.now() + 60_000;
    while (stateOf(`${s.pfx}-app`) !== 'exited') {
      if (Date.now() > deadline) throw new Error('the container was never stopped');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const back = Date.now() + 20_000;
    while (stateOf(`${s.pfx}-app`) !== 'running') {
      if (Date.now() > back) throw new Error('the container was left stopped');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let the orphaned restic finish or die before the next test looks at locks.
    execFileSync('sh', ['-c', `while pgrep -f "^restic -r ${s.repo}" >/dev/null; do sleep 0.2; done`], { timeout: 60_000 });
  }, 180_000);

  it('killed (SIGKILL, restic too) mid-backup: the stale lock of this host is removed and the next run succeeds', async () => {
    const m = manifest('kill.json', { volumes: [`${s.pfx}-big`], quiesce: 'none', every: '1h' });
    for (const x of snapshotsIn(s.repo).filter((y) => y.tags?.includes(`tsconverge-volume=${s.pfx}-big`))) resticCli(s.repo, ['forget', x.id]);
    const before = snapshotsIn(s.repo).length;
    const child = spawn(process.execPath, [BIN, 'apply', m, '--root', s.root], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const deadline = Date.now() + 60_000;
    let restic: number[] = [];
    for (;;) {
      restic = execFileSync('sh', ['-c', `pgrep -P ${child.pid} -x restic || true`], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
      if (restic.length && locks().length) break;
      if (Date.now() > deadline) throw new Error('restic never took its lock');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    for (const pid of restic) process.kill(pid, 'SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 200));
    expect(locks().length).toBeGreaterThan(0);
    const next = await runCli(['apply', m, '--root', s.root, '--format', 'json']);
    expect(next.code, next.stdout + next.stderr).toBe(2);
    expect(snapshotsIn(s.repo).length).toBe(before + 1);
    expect(locks()).toEqual([]);
    expect(stateOf(`${s.pfx}-app`)).toBe('running');
  }, 180_000);

  it('a live lock of another host is waited for (lockWait), then reported with its holder', async () => {
    const pwFile = path.join(path.dirname(s.root), 'pw');
    writeFileSync(pwFile, PASSWORD + '\n', { mode: 0o600 });
    // Another host: restic in its own UTS namespace, named otherhost, holding a live lock (a
    // `backup --stdin` holds its lock as long as its input stays open).
    const other = spawn(
      'unshare',
      ['--uts', 'sh', '-c', `hostname otherhost && exec restic -r ${s.repo} --no-cache --password-file ${pwFile} backup --stdin --stdin-filename held`],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    try {
      const deadline = Date.now() + 30_000;
      while (!locks().length) {
        if (Date.now() > deadline) throw new Error('the other host never took its lock');
        await new Promise((r) => setTimeout(r, 50));
      }
      // Retention needs the exclusive lock: it waits 3 s, then says who holds the repository.
      const m = manifest('locked.json', { every: '1s', keep: { last: 1 }, lockWait: '3s' });
      const t0 = Date.now();
      const r = await runCli(['apply', m, '--root', s.root, '--format', 'json']);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(Date.now() - t0).toBeGreaterThan(3_000);
      const b = r.json.resources.find((x: any) => x.id === 'backup.volume[b]');
      expect(b.error.code).toBe('BACKUP_LOCKED');
      expect(b.error.message).toMatch(/applying retention to .*: repository .* is locked by PID \d+ on otherhost by root, since /);
      expect(stateOf(`${s.pfx}-app`)).toBe('running');
    } finally {
      other.stdin.end();
      other.kill('SIGINT');
    }
  }, 180_000);
});
