/**
 * Test helpers for the account kinds: a minimal root with passwd, group, shadow, gshadow
 * and /etc/skel, and the shadow-utils checkers pwck -r / grpck -r run on its files by
 * path. Used by tests only; nothing here touches this machine's /etc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function seedRoot(root: string, extra: { passwd?: string; group?: string; shadow?: string; gshadow?: string } = {}): void {
  mkdirSync(path.join(root, 'etc/skel'), { recursive: true });
  mkdirSync(path.join(root, 'home'), { recursive: true });
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n' + (extra.passwd ?? ''), { mode: 0o644 });
  writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n' + (extra.group ?? ''), { mode: 0o644 });
  writeFileSync(path.join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n' + (extra.shadow ?? ''), { mode: 0o640 });
  writeFileSync(path.join(root, 'etc/gshadow'), 'root:*::\n' + (extra.gshadow ?? ''), { mode: 0o640 });
  writeFileSync(path.join(root, 'etc/skel/.profile'), '# from skel\n', { mode: 0o644 });
  mkdirSync(path.join(root, 'root'), { recursive: true });
}

/**
 * pwck -r and grpck -r on the root's files. They look users and groups up through this
 * machine's NSS (a member's user, a user's group), so they run in a private mount
 * namespace (unshare --mount) where the root's four files and /home are bound over this
 * machine's: the machine's own /etc is never touched. Returns the exit codes and every
 * line they print.
 */
export function checkAccountFiles(root: string): string {
  const r = path.resolve(root);
  mkdirSync(path.join(r, 'home'), { recursive: true });
  const script = [
    'set -e',
    ...['passwd', 'shadow', 'group', 'gshadow'].map((f) => `mount --bind ${r}/etc/${f} /etc/${f}`),
    `mount --bind ${r}/home /home`,
    'set +e',
    'pwck -r /etc/passwd /etc/shadow; p=$?',
    'grpck -r /etc/group /etc/gshadow; g=$?',
    'echo "pwck $p grpck $g"',
  ].join('\n');
  const run = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
  const lines = `${run.stdout}${run.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/: no changes$/.test(l));
  const verdict = lines.find((l) => l.startsWith('pwck ')) ?? `unshare failed (${run.status})`;
  return [verdict, ...lines.filter((l) => !l.startsWith('pwck '))].join('\n');
}

/** The test's expected clean result of checkAccountFiles. */
export const CLEAN = 'pwck 0 grpck 0';

export function id(root: string, user: string): string {
  return execFileSync('grep', [`^${user}:`, path.join(root, 'etc/passwd')], { encoding: 'utf8' }).trim();
}
