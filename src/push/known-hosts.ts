/**
 * Host key checking against an OpenSSH known_hosts file, the way `ssh` does with
 * StrictHostKeyChecking=yes (or =accept-new under --accept-new):
 *
 * - entries are `HOSTS KEYTYPE BASE64 [comment]`; HOSTS is a comma-separated list of
 *   names or patterns (`*`, `?`, negation `!`), `[host]:port` for a port other than 22,
 *   or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`;
 * - `@revoked` marks a key refused for every host; `@cert-authority` lines are skipped
 *   (host certificates are not supported);
 * - a key listed for the host: accepted; the host listed with other keys only: CHANGED,
 *   always refused, both fingerprints shown; the host not listed: UNKNOWN, refused
 *   unless accept-new, which appends the entry (file replaced atomically).
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { globToRegExp } from './inventory.js';

export interface KnownHostEntry {
  readonly marker?: '@revoked' | '@cert-authority';
  readonly hosts: string;
  readonly type: string;
  readonly key: string;
  readonly line: number;
}

export type HostKeyVerdict =
  | { readonly status: 'known' }
  | { readonly status: 'unknown' }
  | { readonly status: 'changed'; readonly known: readonly { type: string; fingerprint: string; line: number }[] }
  | { readonly status: 'revoked'; readonly line: number };

/** `SHA256:base64` without padding, as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob (string length + name). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const n = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + n).toString('latin1');
}

/** How a host is written in known_hosts: `name` for port 22, else `[name]:port`. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    if (fields.length < 3) return;
    out.push({ ...(marker ? { marker } : {}), hosts: fields[0]!, type: fields[1]!, key: fields[2]!, line: i + 1 });
  });
  return out;
}

/** Whether an entry's host field names `name` (`host` or `[host]:port`). */
export function hostMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const re = globToRegExp((negated ? pattern.slice(1) : pattern).toLowerCase());
    if (re.test(name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const b64 = keyBlob.toString('base64');
  const revoked = entries.find((e) => e.marker === '@revoked' && e.key === b64);
  if (revoked) return { status: 'revoked', line: revoked.line };
  const name = hostKeyName(host, port);
  const mine = entries.filter((e) => e.marker === undefined && hostMatches(e.hosts, name));
  if (mine.some((e) => e.key === b64)) return { status: 'known' };
  if (mine.length === 0) return { status: 'unknown' };
  return { status: 'changed', known: mine.map((e) => ({ type: e.type, fingerprint: fingerprint(Buffer.from(e.key, 'base64')), line: e.line })) };
}

/** Key types listed for the host: the SSH handshake asks for these first (as ssh does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = hostKeyName(host, port);
  return [...new Set(entries.filter((e) => e.marker === undefined && hostMatches(e.hosts, name)).map((e) => e.type))];
}

export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

let appending: Promise<unknown> = Promise.resolve();

/**
 * Append `[host]:port TYPE KEY` to the file (hosts accepted in parallel are appended one
 * at a time; each write replaces the file atomically, mode 0644, its directory made 0700 when missing).
 */
export function recordHostKey(file: string, host: string, port: number, keyBlob: Buffer): Promise<void> {
  const next = appending.then(async () => {
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== '' && !text.endsWith('\n')) text += '\n';
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(file, `${text}${hostKeyName(host, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}\n`, { mode: 0o644 });
  });
  appending = next.catch(() => undefined);
  return next;
}
