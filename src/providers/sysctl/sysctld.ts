/**
 * sysctl keys and sysctl.d files: key forms, value normalisation, and the
 * tsconverge-owned file /etc/sysctl.d/90-tsconverge.conf (one `key = value` line per
 * sysctl resource).
 */
import { TsconvergeError } from '../../core/errors.js';

export const SYSCTL_FILE = '/etc/sysctl.d/90-tsconverge.conf';
export const SYSCTL_HEADER = '# Managed by tsconverge: one line per sysctl resource. Changes made by hand are reverted on the next run.';

/**
 * The path of a key below /proc/sys. As in sysctl(8): a key written with dots
 * (net.ipv4.ip_forward) has its dots turned into slashes; a key written with slashes
 * (net/ipv4/conf/eth0.100/rp_filter) is taken as it is, so it can name an interface
 * with a dot in its name.
 */
export function keyPath(key: string): string {
  const trimmed = key.trim().replace(/^\/+/, '');
  const p = trimmed.includes('/') ? trimmed : trimmed.replace(/\./g, '/');
  if (p === '' || !/^[A-Za-z0-9_.:@+-]+(\/[A-Za-z0-9_.:@+-]+)*$/.test(p) || p.split('/').some((s) => s === '.' || s === '..')) {
    throw new TsconvergeError('INVALID_VALUE', `${JSON.stringify(key)} is not a sysctl key`, {
      terminal: true,
      hint: 'write keys as sysctl(8) prints them, e.g. net.core.somaxconn (or with slashes: net/ipv4/conf/eth0.100/rp_filter)',
    });
  }
  return p;
}

/** Values compare as the kernel prints them, with runs of whitespace (tabs) as one space. */
export function normaliseValue(value: string | number | boolean): string {
  const v = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
  return v.trim().split(/\s+/).join(' ');
}

export interface SysctlLine {
  readonly key: string;
  readonly path: string;
  readonly value: string;
}

/** Parse a sysctl.d file: `key = value` lines; `#` and `;` comments; a leading `-` (ignore failures) is dropped. */
export function parseSysctlConf(text: string): SysctlLine[] {
  const out: SysctlLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().replace(/^-/, '');
    try {
      out.push({ key, path: keyPath(key), value: normaliseValue(line.slice(eq + 1)) });
    } catch {
      // A line that names no valid key is not ours to interpret; it is kept as text.
    }
  }
  return out;
}

/** The persisted value of a key (the last line wins, as in systemd-sysctl), or null. */
export function persistedValue(text: string | null, key: string): string | null {
  if (text === null) return null;
  const p = keyPath(key);
  let found: string | null = null;
  for (const l of parseSysctlConf(text)) if (l.path === p) found = l.value;
  return found;
}

/**
 * Set (value) or remove (null) one key's line in the owned file, keeping every other
 * line. A new key is appended; a key that appears twice keeps one line.
 */
export function renderSysctlConf(existing: string | null, key: string, value: string | null): string {
  const p = keyPath(key);
  const lines = (existing ?? '')
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => l.trim() !== SYSCTL_HEADER);
  const out: string[] = [SYSCTL_HEADER];
  let placed = false;
  for (const line of lines) {
    const parsed = parseSysctlConf(line)[0];
    if (parsed && parsed.path === p) {
      if (!placed && value !== null) out.push(`${key} = ${value}`);
      placed = true;
      continue;
    }
    if (line.trim() !== '') out.push(line);
  }
  if (!placed && value !== null) out.push(`${key} = ${value}`);
  return out.join('\n') + '\n';
}
