/**
 * A real SSH login against accounts tsconverge converged under a temp root (issue 26).
 *
 * The loopback sshd of the push tests (Debian's openssh-server) runs in a private mount
 * namespace (unshare --mount --propagation private) where the root's passwd, shadow,
 * group, gshadow, sudoers and sudoers.d are bound over this machine's and the root's /home
 * over /home: sshd and sudo
 * sees the accounts exactly as tsconverge wrote them, with StrictModes on (home, .ssh and
 * authorized_keys owner and modes are checked by sshd itself). This machine's own
 * /etc and users are never touched. A file bind follows the inode, and tsconverge replaces
 * files by rename, so sshd is started again (in a new namespace) after every run.
 *
 * Proves: a declared key logs in (`ssh -o BatchMode=yes ... true`) and, in ops, may use sudo
 * (the rule tsconverge wrote, read by this machine's sudo); a key removed from the
 * catalogue is refused after the next run while the key that stays still logs in; a
 * locked user is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, tempRoot, waitUntil } from '../../src/providers/hostio.testkit.js';
import { CLEAN, checkAccountFiles, seedRoot } from '../../src/providers/user/accounts.testkit.js';
import { freePort } from '../support/harness.js';
import { SSHD, generateKey, requireSshd } from '../support/sshd.js';

let t: ReturnType<typeof tempRoot>;
let root: string;
let port: number;
let sshd: ChildProcess | undefined;
let sshdLog = '';
const pub: Record<string, string> = {};
const priv = (n: string): string => path.join(t.root, `id_${n}`);

function waitForPort(p: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ host: '127.0.0.1', port: p });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not come up: ${sshdLog}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

async function startSshd(): Promise<void> {
  await stopSshd();
  const binds = ['passwd', 'shadow', 'group', 'gshadow', 'sudoers', 'sudoers.d'].map((f) => `mount --bind ${root}/etc/${f} /etc/${f}`);
  const script = ['set -e', ...binds, `mount --bind ${root}/home /home`, `exec ${SSHD} -D -e -f ${path.join(t.root, 'sshd_config')}`].join('\n');
  sshdLog = '';
  sshd = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (d) => {
    sshdLog += d;
  });
  await waitForPort(port, 10_000);
}

async function stopSshd(): Promise<void> {
  const c = sshd;
  sshd = undefined;
  if (!c || c.exitCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  await gone;
}

function login(user: string, key: string, command = 'true'): { code: number; out: string; err: string } {
  const r = spawnSync(
    'ssh',
    [
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'LogLevel=ERROR',
      '-i',
      priv(key),
      '-p',
      String(port),
      `${user}@127.0.0.1`,
      command,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function manifest(keys: string[], locked: boolean): string {
  const file = path.join(t.root, 'access.yaml');
  writeFileSync(
    file,
    `
resources:
  - kind: group
    name: i26-ops
  - kind: sudo.rule
    name: i26-ops
    who: ["%i26-ops"]
    nopasswd: true
  - kind: user
    name: i26-erin
    uid: 2640
    groups: [i26-ops]
    shell: /bin/sh
    locked: ${locked}
  - kind: ssh.authorized_keys
    name: i26-erin
    keys:
${keys.map((k) => `      - ${JSON.stringify(pub[k])}`).join('\n')}
`,
  );
  return file;
}

async function apply(keys: string[], locked: boolean): Promise<void> {
  const run = await cli(['apply', manifest(keys, locked), '--root', root]);
  expect(run.code, run.stdout + run.stderr).toBe(2);
  expect(checkAccountFiles(root)).toBe(CLEAN);
  await startSshd();
}

beforeAll(async () => {
  requireSshd();
  t = tempRoot('i26-ssh');
  root = path.join(t.root, 'root');
  // sshd's privilege separation user, as on any Debian host with openssh-server.
  mkdirSync(path.join(root, 'etc/sudoers.d'), { recursive: true });
  writeFileSync(path.join(root, 'etc/sudoers'), 'Defaults\tenv_reset\nroot\tALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n', { mode: 0o440 });
  seedRoot(root, {
    passwd: 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n',
    shadow: 'sshd:*:19000:0:99999:7:::\n',
    group: 'nogroup:x:65534:\n',
    gshadow: 'nogroup:*::\n',
  });
  port = await freePort();
  for (const n of ['laptop', 'old']) pub[n] = generateKey(priv(n), `i26-${n}`);
  const hostKey = path.join(t.root, 'ssh_host_ed25519_key');
  generateKey(hostKey, 'i26-host');
  writeFileSync(
    path.join(t.root, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(t.root, 'sshd.pid')}`,
      'AuthorizedKeysFile .ssh/authorized_keys',
      'PermitRootLogin no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes yes',
      'PrintMotd no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await stopSshd();
  t?.cleanup();
});

describe('SSH login against converged accounts', () => {
  it('a declared key logs in (and uses sudo as ops); a key removed from the catalogue is refused after the next run; a locked user is refused', async () => {
    await apply(['laptop', 'old'], false);
    expect(login('i26-erin', 'laptop'), sshdLog).toMatchObject({ code: 0 });
    expect(login('i26-erin', 'old'), sshdLog).toMatchObject({ code: 0 });
    // ops may use sudo: the rule tsconverge wrote, read by the real sudo of this machine in the namespace.
    expect(login('i26-erin', 'laptop', 'sudo -n id -u'), sshdLog).toMatchObject({ code: 0, out: '0\n' });

    await apply(['laptop'], false);
    const refused = login('i26-erin', 'old');
    expect(refused.code, sshdLog).toBe(255);
    expect(refused.err).toMatch(/Permission denied \(publickey\)/);
    expect(login('i26-erin', 'laptop'), sshdLog).toMatchObject({ code: 0 });

    await apply(['laptop'], true);
    const locked = login('i26-erin', 'laptop');
    expect(locked.code).toBe(255);
    expect(locked.err).toMatch(/Permission denied/);
    // sshd's own reason (its stderr is read by this process's event loop, after spawnSync returned).
    await waitUntil(() => /User i26-erin not allowed because account is locked/.test(sshdLog), 5_000).catch(() => undefined);
    expect(sshdLog).toMatch(/User i26-erin not allowed because account is locked/);
  });
});
