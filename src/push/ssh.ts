/**
 * One SSH connection to one host (node-ssh over ssh2), with its host key checked against
 * known_hosts before any credential is sent. node-ssh is loaded here, and this module
 * only from the push command, so other commands never pay for it.
 */
import { NodeSSH } from 'node-ssh';
import { TsconvergeError } from '../core/errors.js';
import { checkHostKey, fingerprint, hostKeyName, keyTypeOf, knownKeyTypes, readKnownHosts, recordHostKey, type HostKeyVerdict } from './known-hosts.js';
import type { PushHost } from './inventory.js';

/** Host key algorithms ssh2 offers, strongest first; the types known for a host go first. */
const HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
const ALGOS_OF_TYPE: Record<string, string[]> = { 'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] };

export interface Connection {
  readonly ssh: NodeSSH;
  /** True when the host key was unknown and --accept-new recorded it. */
  readonly recorded: boolean;
}

export interface ConnectOptions {
  readonly knownHosts: string;
  readonly acceptNew: boolean;
}

/** Why a connection was refused: an UNREACHABLE error (exit 4) names the host. */
function hostKeyError(host: PushHost, verdict: HostKeyVerdict, offered: Buffer, file: string): TsconvergeError {
  const name = hostKeyName(host.address, host.port);
  const fp = `${keyTypeOf(offered)} ${fingerprint(offered)}`;
  if (verdict.status === 'changed') {
    const known = verdict.known.map((k) => `${k.type} ${k.fingerprint} (${file}:${k.line})`).join(', ');
    return new TsconvergeError(
      'HOST_KEY_CHANGED',
      `host key of ${name} has CHANGED: it offered ${fp}; known_hosts has ${known}. Refused: this may be an attack (or the host was reinstalled)`,
      {
        terminal: true,
        hint: `if the change is expected, remove the old entry (ssh-keygen -R '${name}' -f ${file}) and push again with --accept-new`,
      },
    );
  }
  if (verdict.status === 'revoked') {
    return new TsconvergeError('HOST_KEY_CHANGED', `host key of ${name} (${fp}) is marked @revoked in ${file}:${verdict.line}; refused`, { terminal: true });
  }
  return new TsconvergeError('HOST_KEY_UNKNOWN', `host key of ${name} is not in ${file}: it offered ${fp}; refused`, {
    terminal: true,
    hint: `check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then push with --accept-new to record it`,
  });
}

export async function connect(host: PushHost, opts: ConnectOptions): Promise<Connection> {
  const entries = await readKnownHosts(opts.knownHosts);
  const known = knownKeyTypes(entries, host.address, host.port)
    .flatMap((t) => ALGOS_OF_TYPE[t] ?? [t])
    .filter((a) => HOST_KEY_ALGOS.includes(a));
  let refusal: TsconvergeError | undefined;
  let recorded = false;
  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      host: host.address,
      port: host.port,
      username: host.user,
      privateKeyPath: host.key,
      readyTimeout: host.connectTimeoutMs,
      // No agent, no password prompts: the inventory's key only.
      tryKeyboard: false,
      algorithms: { serverHostKey: [...known, ...HOST_KEY_ALGOS.filter((a) => !known.includes(a))] as never },
      hostVerifier: ((key: Buffer, verify: (ok: boolean) => void) => {
        const verdict = checkHostKey(entries, host.address, host.port, key);
        if (verdict.status === 'known') {
          verify(true);
          return;
        }
        if (verdict.status === 'unknown' && opts.acceptNew) {
          recordHostKey(opts.knownHosts, host.address, host.port, key).then(
            () => {
              recorded = true;
              verify(true);
            },
            (err: Error) => {
              refusal = new TsconvergeError(
                'HOST_KEY_UNKNOWN',
                `cannot record the host key of ${hostKeyName(host.address, host.port)} in ${opts.knownHosts}: ${err.message}`,
                { terminal: true },
              );
              verify(false);
            },
          );
          return;
        }
        refusal = hostKeyError(host, verdict, key, opts.knownHosts);
        verify(false);
      }) as never,
    });
  } catch (err) {
    ssh.dispose();
    if (refusal) throw refusal;
    throw unreachable(host, err);
  }
  return { ssh, recorded };
}

export function unreachable(host: PushHost, err: unknown): TsconvergeError {
  const message = err instanceof Error ? err.message : String(err);
  const auth = /authentication methods failed|auth/i.test(message);
  return new TsconvergeError('HOST_UNREACHABLE', `cannot connect to ${host.user}@${hostKeyName(host.address, host.port)}: ${message}`, {
    cause: err,
    hint: auth
      ? `the key ${host.key} was not accepted for ${host.user}: add its public key to the host's authorized_keys`
      : 'check that the host is up, the address and port are right, and sshd is running',
  });
}
