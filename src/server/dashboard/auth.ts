/**
 * Who may see the dashboard: the holder of the login token, or (on a TLS dashboard
 * listener) the holder of an operator certificate of the server's CA.
 *
 *   token file   `--dashboard-token-file` (default STATE_DIR/dashboard.token): created 0600
 *                with 32 random bytes when absent; refused when others may read it.
 *   Bearer       `Authorization: Bearer TOKEN` (scripts, curl).
 *   cookie       the login form (POST /login) sets `tsconverge_dashboard` = ISSUED.HMAC(token, ISSUED):
 *                HttpOnly, SameSite=Strict, Path=/, Secure on TLS, valid 12 hours. Changing
 *                the token file (and restarting) ends every session. The token itself is never
 *                put in a cookie, a page or a log.
 * Every comparison is made in constant time over SHA-256 digests (equal lengths).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../../core/errors.js';

export const SESSION_COOKIE = 'tsconverge_dashboard';
export const SESSION_SECONDS = 12 * 3600;

function tokenError(message: string, file: string): TsconvergeError {
  return new TsconvergeError('DASHBOARD_TOKEN', `${file}: ${message}`, { hint: 'remove the file to have a new token made (mode 0600), or chmod 600 it' });
}

/** The login token from `file`; a new random one is written (0600, directory 0700) when the file does not exist. */
export async function loadDashboardToken(file: string): Promise<{ token: string; created: boolean }> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw tokenError(err.message, file);
  });
  if (!st) {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const token = randomBytes(32).toString('base64url');
    const fh = await open(file, 'wx', 0o600).catch((err: Error) => {
      throw tokenError(`cannot create the token file: ${err.message}`, file);
    });
    try {
      await fh.writeFile(token + '\n');
    } finally {
      await fh.close();
    }
    return { token, created: true };
  }
  if (!st.isFile()) throw tokenError('not a regular file', file);
  if ((st.mode & 0o077) !== 0)
    throw tokenError(`mode ${(st.mode & 0o777).toString(8)}: the token file must be readable by its owner only (0600 or 0400)`, file);
  const token = (await readFile(file, 'utf8')).trim();
  if (token.length < 16) throw tokenError('the token is shorter than 16 characters', file);
  return { token, created: false };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time equality of two strings (of any lengths). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer TOKEN` header. */
export function bearerOf(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    if (!out.has(k)) out.set(k, part.slice(i + 1).trim());
  }
  return out;
}

const mac = (token: string, issued: string): string => createHmac('sha256', token).update(`tsconverge-dashboard-session\0${issued}`).digest('base64url');

/** A session value for a login at `nowMs`. */
export function createSession(token: string, nowMs = Date.now()): string {
  const issued = String(Math.floor(nowMs / 1000));
  return `${issued}.${mac(token, issued)}`;
}

/** True when `value` is a session made with `token` less than SESSION_SECONDS ago. */
export function verifySession(value: string | undefined, token: string, nowMs = Date.now()): boolean {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
  if (!m) return false;
  const age = nowMs / 1000 - Number(m[1]);
  if (age < -60 || age > SESSION_SECONDS) return false;
  return sameSecret(m[2]!, mac(token, m[1]!));
}

export function sessionCookie(value: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** Where to go after login: a local path only (never `//host` or a scheme), else `/`. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[^\s\\]*$/.test(next) && next.length < 2048 ? next : '/';
}

export interface LoginLimiter {
  /** Milliseconds `ip` must wait before its next try (0: it may try now). */
  waitMs(ip: string, nowMs?: number): number;
  /** A wrong token from `ip`. */
  failed(ip: string, nowMs?: number): void;
  /** A right token from `ip`: its count starts again. */
  succeeded(ip: string): void;
}

/**
 * Wrong tokens per source address (the login form and `Authorization: Bearer`): `max` in
 * any `windowMs`, then that address waits until the oldest of them is `windowMs` old, and
 * is answered 429 without its token being compared. At most `maxTracked` addresses are
 * remembered (the oldest forgotten first), so a flood of addresses cannot grow it.
 */
export function createLoginLimiter(opts: { max?: number; windowMs?: number; maxTracked?: number } = {}): LoginLimiter {
  const max = opts.max ?? 10;
  const windowMs = opts.windowMs ?? 60_000;
  const maxTracked = opts.maxTracked ?? 10_000;
  const failures = new Map<string, number[]>();
  const recent = (ip: string, now: number): number[] => (failures.get(ip) ?? []).filter((t) => now - t < windowMs);
  return {
    waitMs(ip, now = Date.now()) {
      const list = recent(ip, now);
      return list.length < max ? 0 : list[list.length - max]! + windowMs - now;
    },
    failed(ip, now = Date.now()) {
      const list = [...recent(ip, now), now].slice(-max);
      failures.delete(ip);
      failures.set(ip, list);
      if (failures.size > maxTracked) failures.delete(failures.keys().next().value!);
    },
    succeeded(ip) {
      failures.delete(ip);
    },
  };
}
