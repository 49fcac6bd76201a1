/**
 * Test helpers for backup.volume: a sandbox whose engine objects carry the test label and
 * the `i27-` name prefix (restored and scratch volumes are found by prefix too), restic run
 * directly on a repository (to make old snapshots with --time, or to look), a repository's
 * files as a fingerprint, and a volume's tree (sha256, mode, owner of every entry).
 * Used by tests only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { createSandbox, docker, requireDocker, type Sandbox } from '../../../test/support/harness.js';

export const PASSWORD = 'i27-repo-pass-Zq8v';

export interface BackupSandbox extends Sandbox {
  /** `i27-<random>`: every container and volume name of the test starts with it. */
  readonly pfx: string;
  /** A local repository path in the sandbox (not created). */
  readonly repo: string;
  /** The password file under --root (mode 0600), as a host path. */
  readonly passwordFile: string;
}

export function backupSandbox(): BackupSandbox {
  requireDocker();
  const s = createSandbox('i27');
  const pfx = `i27-${randomBytes(3).toString('hex')}`;
  const repo = path.join(path.dirname(s.root), 'repo');
  execFileSync('install', ['-d', '-m', '0700', path.join(s.root, 'etc/tsconverge/secrets')]);
  execFileSync('sh', ['-c', `printf '%s\\n' "$1" | install -m 0600 /dev/stdin "$2"`, 'sh', PASSWORD, path.join(s.root, 'etc/tsconverge/secrets/backup')]);
  const cleanup = s.cleanup.bind(s);
  return {
    ...s,
    pfx,
    repo,
    passwordFile: '/etc/tsconverge/secrets/backup',
    cleanup() {
      try {
        const cs = docker('ps', '-aq', '--filter', `name=^${pfx}`).split('\n').filter(Boolean);
        if (cs.length) docker('rm', '-f', ...cs);
        const vs = docker('volume', 'ls', '-q', '--filter', `name=${pfx}`).split('\n').filter(Boolean);
        const drills = docker('volume', 'ls', '-q', '--filter', `name=tsconverge-drill-${pfx}`).split('\n').filter(Boolean);
        if (vs.length || drills.length) docker('volume', 'rm', '-f', ...vs, ...drills);
      } finally {
        cleanup();
      }
    },
  };
}

/** restic on `repo` with the password on stdin; throws on a non-zero exit. */
export function resticCli(repo: string, args: readonly string[], opts: { cwd?: string; password?: string } = {}): string {
  return execFileSync('restic', ['-r', repo, '--no-cache', ...args], {
    input: (opts.password ?? PASSWORD) + '\n',
    cwd: opts.cwd,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export interface Snap {
  id: string;
  short_id: string;
  time: string;
  hostname: string;
  tags?: string[];
}

export function snapshotsIn(repo: string): Snap[] {
  return JSON.parse(
    resticCli(repo, ['--no-lock', 'snapshots', '--json'])
      .split('\n')
      .find((l) => l.startsWith('[')) ?? '[]',
  ) as Snap[];
}

/** Every file of a directory tree with its size and mtime: equal strings mean nothing was written. */
export function dirFingerprint(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.isDirectory() ? 'd' : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.join('\n');
}

export function mountpointOf(volume: string): string {
  return docker('volume', 'inspect', '--format', '{{.Mountpoint}}', volume);
}

/** A volume's tree: path, type, mode, uid:gid and the sha256 of each file (link target of a symlink). */
export function volumeTree(volume: string): string[] {
  const root = mountpointOf(volume);
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = lstatSync(p);
      const what = st.isDirectory()
        ? 'dir'
        : st.isSymbolicLink()
          ? `link:${readlinkSync(p)}`
          : `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      out.push(`${path.relative(root, p)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/** The state of a container: running, exited, paused... */
export function stateOf(name: string): string {
  return docker('inspect', '--format', '{{.State.Status}}', name);
}

/** A writer that appends a row every 50 ms and stops at once on SIGTERM (the shell as PID 1 would ignore it). */
export function writerCommand(file = '/data/rows'): string[] {
  return ['sh', '-c', `trap 'exit 0' TERM; i=$(wc -l < ${file} 2>/dev/null || echo 0); while true; do i=$((i+1)); echo "row $i" >> ${file}; sleep 0.05; done`];
}
