/**
 * Real OpenSSH servers on loopback for push tests: one `sshd -D` per simulated host, on
 * its own port, with a host key generated for it and an authorized key generated per
 * test run. Debian's openssh-server (scripts/setup.sh installs it); a missing sshd is a
 * failure, never a skip.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';

export const SSHD = '/usr/sbin/sshd';

/** Generate an ed25519 key pair at `file` (and file.pub); returns the public key line. */
export function generateKey(file: string, comment = 'tsconverge-test'): string {
  rmSync(file, { force: true });
  rmSync(`${file}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { stdio: 'ignore' });
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

export function requireSshd(): void {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: run scripts/setup.sh (it installs openssh-server)`);
  // The privilege separation directory sshd insists on (no systemd here to create it).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
}

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  /** The host's public key line (`ssh-ed25519 BASE64 comment`). */
  hostKey(): string;
  /** `[127.0.0.1]:PORT TYPE BASE64`, as known_hosts writes it. */
  knownHostsLine(): string;
  /** A new host key (the host was "reinstalled"); restart to serve it. */
  regenerateHostKey(): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd on 127.0.0.1:${port} did not come up in ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** An sshd for one simulated host in `dir`, accepting `authorizedKey` for root. Not started. */
export function createSshd(dir: string, port: number, authorizedKey: string): Sshd {
  requireSshd();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const hostKeyFile = path.join(dir, 'ssh_host_ed25519_key');
  generateKey(hostKeyFile, `host-${port}`);
  writeFileSync(path.join(dir, 'authorized_keys'), authorizedKey + '\n', { mode: 0o600 });
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      'LogLevel ERROR',
      'MaxStartups 50',
      'Subsystem sftp internal-sftp',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let log = '';
  const hostKey = (): string => readFileSync(`${hostKeyFile}.pub`, 'utf8').trim();
  return {
    port,
    dir,
    hostKey,
    knownHostsLine: () => `[127.0.0.1]:${port} ${hostKey().split(' ').slice(0, 2).join(' ')}`,
    regenerateHostKey: () => {
      generateKey(hostKeyFile, `host-${port}`);
    },
    async start() {
      if (child) return;
      child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.on('data', (d) => {
        log += d;
      });
      const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`sshd on port ${port} exited ${code}: ${log}`))));
      exited.catch(() => undefined);
      await Promise.race([waitForPort(port, 10_000), exited]);
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await gone;
    },
  };
}
