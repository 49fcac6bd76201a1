/**
 * What push runs on a connected host, each a tsconverge subcommand over one SSH exec:
 * `--version` (install the local single executable when it is missing or another
 * version), `facts` (the host's facts, to compile its catalogue here), and
 * `apply --catalogue-stdin --format json` with the catalogue document on stdin.
 * Commands carry paths and flags only; the catalogue (and its secrets) only ever
 * travels on the channel's stdin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { NodeSSH } from 'node-ssh';
import { BUNDLE } from '../core/bundle.js';
import { TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import type { Report } from '../engine/report.js';
import type { PushHost } from './inventory.js';
import type { PushDocument } from './wire.js';

/** A word for sh: single-quoted, `'` as `'\''`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The executable push installs: this one when it is the single executable, else dist/tsconverge of the checkout. */
export function localExecutable(): string {
  if (BUNDLE) return process.execPath;
  return fileURLToPath(new URL('../../dist/tsconverge', import.meta.url));
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function run(ssh: NodeSSH, command: string, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ssh.execCommand(command, stdin === undefined ? {} : { stdin });
}

/** The remote version, or undefined when the executable is missing or does not run. */
export async function remoteVersion(ssh: NodeSSH, host: PushHost): Promise<string | undefined> {
  const r = await run(ssh, `${shellQuote(host.tsconverge)} --version`);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/**
 * Make sure the host runs `version` at host.tsconverge. Missing or different: with
 * install, the local executable is uploaded over SFTP beside the target as a private
 * temp file (0700) in a directory only its owner may write, its sha256 checked on the
 * host, then made executable and renamed over the target (atomic: a concurrent run sees
 * the old or the new executable). Without install: REMOTE_VERSION, saying what to install.
 * Returns whether it installed.
 */
export async function ensureTsconverge(ssh: NodeSSH, host: PushHost, version: string, install: boolean): Promise<boolean> {
  const found = await remoteVersion(ssh, host);
  if (found === version) return false;
  const what = found === undefined ? `no tsconverge at ${host.tsconverge}` : `tsconverge ${found} at ${host.tsconverge}, not ${version}`;
  if (!install) {
    throw new TsconvergeError('REMOTE_VERSION', `${host.name}: ${what}`, {
      terminal: true,
      hint: `install tsconverge ${version} there (the single executable dist/tsconverge, npm run build, copied to ${host.tsconverge}), or push without --no-install (and without --noop, which never installs) to have push install it`,
    });
  }
  const local = localExecutable();
  if (!existsSync(local)) {
    throw new TsconvergeError('REMOTE_INSTALL_FAILED', `${host.name}: ${what}, and there is no single executable to install (${local})`, {
      terminal: true,
      hint: 'build it with npm run build, or install tsconverge on the host yourself',
    });
  }
  const dir = path.posix.dirname(host.tsconverge);
  const fail = (message: string, hint?: string): TsconvergeError =>
    new TsconvergeError('REMOTE_INSTALL_FAILED', `${host.name}: installing ${host.tsconverge}: ${message}`, { terminal: true, ...(hint ? { hint } : {}) });
  // The directory: created 0755 when missing; refused when others may write it (they could swap the file between check and rename).
  const d = await run(ssh, `mkdir -p -m 0755 ${shellQuote(dir)} && stat -L -c '%u %a' ${shellQuote(dir)} && id -u`);
  if (d.code !== 0) throw fail(d.stderr.trim() || `mkdir exited ${d.code}`);
  const [owner, mode, me] = d.stdout.trim().split(/\s+/);
  if ((owner !== '0' && owner !== me) || (parseInt(mode ?? '777', 8) & 0o022) !== 0) {
    throw fail(
      `${dir} is owned by uid ${owner} with mode ${mode}: only root (or the login user) may write it`,
      'install into a directory only root can write, e.g. /usr/local/bin',
    );
  }
  const digest = await sha256File(local);
  const tmp = path.posix.join(dir, `.tsconverge-upload-${randomBytes(6).toString('hex')}`);
  let sftp;
  try {
    sftp = await ssh.requestSFTP();
  } catch (err) {
    throw fail(
      `no SFTP: ${(err as Error).message}`,
      "enable the sftp subsystem in the host's sshd_config (Debian: Subsystem sftp /usr/lib/openssh/sftp-server), or install tsconverge there yourself and push with --no-install",
    );
  }
  try {
    await new Promise<void>((resolve, reject) => sftp.fastPut(local, tmp, { mode: 0o700 }, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    await run(ssh, `rm -f ${shellQuote(tmp)}`);
    throw fail(`upload failed: ${(err as Error).message}`);
  } finally {
    sftp.end();
  }
  const q = shellQuote(tmp);
  const v = await run(
    ssh,
    `set -e; sum=$(sha256sum ${q}); [ "\${sum%% *}" = ${digest} ] || { rm -f ${q}; echo "sha256 mismatch: $sum" >&2; exit 3; }; chmod 0755 ${q}; mv -f ${q} ${shellQuote(host.tsconverge)}`,
  );
  if (v.code !== 0) {
    await run(ssh, `rm -f ${q}`);
    throw fail(v.stderr.trim() || `exit ${v.code}`);
  }
  const now = await remoteVersion(ssh, host);
  if (now !== version) throw fail(`the installed executable reports ${now ?? 'nothing'} to --version`);
  return true;
}

/** The host's facts (`tsconverge facts`), as apply on the host will see them. */
export async function remoteFacts(ssh: NodeSSH, host: PushHost): Promise<Facts> {
  const r = await run(ssh, `${shellQuote(host.tsconverge)} facts --no-docker --root ${shellQuote(host.root)}`);
  try {
    if (r.code === 0) return JSON.parse(r.stdout) as Facts;
  } catch {
    /* below */
  }
  throw new TsconvergeError('REMOTE_FAILED', `${host.name}: tsconverge facts exited ${r.code}: ${r.stderr.trim().split('\n')[0] ?? ''}`, { terminal: true });
}

export interface RemoteApply {
  readonly code: number;
  readonly report?: Report;
  /** Input errors the host reported (exit 1): its JSON error list. */
  readonly errors?: readonly { code: string; message: string; hint?: string }[];
  readonly stderr: string;
}

/**
 * `apply --catalogue-stdin` on the host, the document on stdin; its JSON report back.
 * When `signal` aborts (push got SIGINT/SIGTERM), a `SIGINT`/`SIGTERM` line follows the
 * document: the remote apply stops as on that signal (the resources in flight finish, the
 * rest are skipped, its report comes back, its lock is released), as a local apply does.
 */
export async function remoteApply(ssh: NodeSSH, host: PushHost, doc: PushDocument, noop: boolean, signal?: AbortSignal): Promise<RemoteApply> {
  const args = [
    'apply',
    '--catalogue-stdin',
    '--format',
    'json',
    '--root',
    host.root,
    ...(host.stateDir ? ['--state-dir', host.stateDir] : []),
    ...(noop ? ['--noop'] : []),
  ];
  // The document is one line; stdin stays open after it so that an interrupt can follow as
  // a `SIGINT`/`SIGTERM` line (OpenSSH refuses signal requests for a root session's command).
  const stdin = new PassThrough();
  stdin.write(JSON.stringify(doc) + '\n');
  const forward = (): void => {
    stdin.write(signal?.reason instanceof TsconvergeError && signal.reason.message.includes('SIGTERM') ? 'SIGTERM\n' : 'SIGINT\n');
  };
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  const r = await ssh.execCommand(`${shellQuote(host.tsconverge)} ${args.map(shellQuote).join(' ')}`, { stdin }).finally(() => {
    signal?.removeEventListener('abort', forward);
    stdin.end();
  });
  let parsed: (Report & { ok?: false; errors?: RemoteApply['errors'] }) | undefined;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    /* not JSON: below */
  }
  const code = r.code ?? 1;
  if (parsed && Array.isArray(parsed.resources)) return { code, report: parsed, stderr: r.stderr };
  if (parsed && parsed.ok === false) return { code, errors: parsed.errors ?? [], stderr: r.stderr };
  throw new TsconvergeError(
    'REMOTE_FAILED',
    `${host.name}: the remote apply exited ${r.code}${r.signal ? ` (${r.signal})` : ''} without a report: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
    { terminal: true },
  );
}
