/**
 * backup.volume to an sftp: repository over real SSH: the loopback sshd the push tests
 * start (test/support/sshd.ts), a key made for this run, the host key pinned in a
 * known_hosts file. apply takes the backup over SSH, plan is clean after it, the snapshot
 * restores into a new volume equal to the original. While restic runs, its argv and its
 * environment never hold the repository password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, docker, freePort, runCli } from '../support/harness.js';
import { createSshd, generateKey, type Sshd } from '../support/sshd.js';
import { PASSWORD, backupSandbox, volumeTree, type BackupSandbox } from '../../src/providers/backup/backup.testkit.js';

let s: BackupSandbox;
let sshd: Sshd;
let m: string;
let remote: string;

beforeAll(async () => {
  s = backupSandbox();
  const base = path.dirname(s.root);
  const key = path.join(base, 'id_ed25519');
  const pub = generateKey(key, 'i27-backup');
  const port = await freePort();
  sshd = createSshd(path.join(base, 'sshd'), port, pub);
  await sshd.start();
  const knownHosts = path.join(base, 'known_hosts');
  writeFileSync(knownHosts, sshd.knownHostsLine() + '\n');
  remote = path.join(base, 'remote');
  mkdirSync(remote);
  docker('volume', 'create', '--label', s.label, `${s.pfx}-site`);
  docker(
    'run',
    '--rm',
    '--network',
    'none',
    '--label',
    s.label,
    '-v',
    `${s.pfx}-site:/s`,
    'local/busybox:1',
    'sh',
    '-c',
    'mkdir -p /s/a/b && head -c 40000000 /dev/urandom > /s/a/big.bin && echo hello > /s/a/b/hi && chmod 0604 /s/a/b/hi && chown 7:8 /s/a/b/hi',
  );
  m = s.manifest(
    JSON.stringify({
      resources: [
        {
          kind: 'backup.volume',
          name: 'site',
          volumes: [`${s.pfx}-site`],
          repository: `sftp:root@127.0.0.1:${remote}/repo`,
          passwordFile: s.passwordFile,
          keep: { last: 3 },
          sshCommand: [
            'ssh',
            '-p',
            String(port),
            '-i',
            key,
            '-o',
            `UserKnownHostsFile=${knownHosts}`,
            '-o',
            'StrictHostKeyChecking=yes',
            '-o',
            'BatchMode=yes',
            'root@127.0.0.1',
            '-s',
            'sftp',
          ],
        },
      ],
    }),
  );
}, 120_000);
afterAll(async () => {
  await sshd?.stop();
  s?.cleanup();
});

/** argv and environment of every restic process running now. */
function resticProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.split('\0')[0] !== 'restic') continue;
      out.push(cmd.replace(/\0/g, ' ') + '\n' + readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0/g, ' '));
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('backup.volume over sftp', () => {
  it('apply backs up over SSH; restic never holds the password in argv or environment; plan is clean; the snapshot restores equal', async () => {
    const child = spawn(process.execPath, [BIN, 'apply', m, '--root', s.root, '--format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let seen: string[] = [];
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done) {
      const now = resticProcesses();
      seen = seen.concat(now);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await exited, stderr + stdout).toBe(2);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((p) => p.includes('sftp.command=ssh'))).toBe(true);
    for (const p of seen) expect(p).not.toContain(PASSWORD);
    expect(stdout + stderr).not.toContain(PASSWORD);
    expect(readdirSync(path.join(remote, 'repo', 'snapshots'))).toHaveLength(1);

    const plan = await runCli(['plan', m, '--root', s.root]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    const list = await runCli(['backup', 'list', `${s.pfx}-site`, '--manifests', m, '--root', s.root, '--format', 'json']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json.snapshots).toHaveLength(1);
    const restore = await runCli([
      'backup',
      'restore',
      `${s.pfx}-site`,
      '--snapshot',
      list.json.snapshots[0].id,
      '--into',
      `${s.pfx}-site-copy`,
      '--manifests',
      m,
      '--root',
      s.root,
    ]);
    expect(restore.code, restore.stderr).toBe(2);
    expect(volumeTree(`${s.pfx}-site-copy`)).toEqual(volumeTree(`${s.pfx}-site`));

    // A changed host key is refused by ssh: the backup fails clearly, nothing is sent.
    sshd.regenerateHostKey();
    await sshd.stop();
    await sshd.start();
    const refused = await runCli(['backup', 'run', 'site', '--manifests', m, '--root', s.root]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('is unreachable');
    expect(
      execFileSync('ls', [path.join(remote, 'repo', 'snapshots')], { encoding: 'utf8' })
        .trim()
        .split('\n'),
    ).toHaveLength(1);
  }, 240_000);
});
