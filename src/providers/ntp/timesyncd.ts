/**
 * systemd-timesyncd: a drop-in file (/etc/systemd/timesyncd.conf.d/90-tsconverge.conf)
 * with a [Time] section. timesyncd knows only a list of servers (NTP=) and has no
 * check mode, so the values are checked here (no whitespace, no empty names).
 */
import { TsconvergeError } from '../../core/errors.js';

export interface TimesyncdSettings {
  /** NTP= in order: timesyncd tries them in turn. */
  readonly servers: readonly string[];
  /** Further `Key=value` lines of the [Time] section, e.g. PollIntervalMaxSec=2048. */
  readonly extraLines: readonly string[];
}

export function parseTimesyncdConf(text: string): TimesyncdSettings {
  let section = '';
  let servers: string[] = [];
  const extraLines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      continue;
    }
    if (section !== 'Time') continue;
    const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      extraLines.push(line);
      continue;
    }
    // An empty NTP= resets the list, as in systemd's own parser.
    if (m[1] === 'NTP') servers = m[2]!.trim() === '' ? [] : [...servers, ...m[2]!.trim().split(/\s+/)];
    else extraLines.push(`${m[1]}=${m[2]!.trim()}`);
  }
  return { servers, extraLines };
}

export function renderTimesyncdConf(s: TimesyncdSettings, owner: string): string {
  return (
    [`# Managed by tsconverge (${owner}). Changes made by hand are reverted on the next run.`, '[Time]', `NTP=${s.servers.join(' ')}`, ...s.extraLines].join(
      '\n',
    ) + '\n'
  );
}

/** Check what timesyncd would silently misread: names with whitespace, lines that are not Key=value. */
export function checkTimesyncd(s: TimesyncdSettings, resource: string): void {
  const bad = s.servers.find((h) => h === '' || /\s/.test(h));
  if (bad !== undefined) {
    throw new TsconvergeError('INVALID_VALUE', `NTP server name ${JSON.stringify(bad)} is not valid for systemd-timesyncd`, {
      resource,
      terminal: true,
      hint: 'use a host name or address without spaces',
    });
  }
  const line = s.extraLines.find((l) => !/^[A-Za-z]+=\S.*$/.test(l));
  if (line !== undefined) {
    throw new TsconvergeError('CONFIG_REJECTED', `extraLines entry ${JSON.stringify(line)} is not a Key=value line of timesyncd's [Time] section`, {
      resource,
      terminal: true,
      hint: 'write options as Key=value, e.g. PollIntervalMaxSec=2048',
    });
  }
}
