/**
 * chrony.conf: render the whole file from the declared settings, parse it back into
 * the same comparable form, and let chronyd itself check a new file
 * (`chronyd -p -f FILE` parses a configuration, prints it and exits) before it
 * replaces the old one.
 */
import { TsconvergeError } from '../../core/errors.js';
import { runCommand, tail } from '../hostio.js';
import type { ProcessRunner } from '../../core/exec.js';

export interface NtpServer {
  readonly host: string;
  readonly iburst?: boolean;
  readonly prefer?: boolean;
  /** More chrony source options, each as written in chrony.conf, e.g. "maxpoll 10". */
  readonly options?: readonly string[];
}

export interface Makestep {
  readonly threshold: number;
  readonly limit: number;
}

/** The settings a chrony.conf holds, resolved (defaults applied). */
export interface ChronySettings {
  readonly servers: readonly string[];
  readonly pools: readonly string[];
  readonly makestep: Makestep | null;
  readonly allow: readonly string[];
  readonly driftfile: string | null;
  readonly rtcsync: boolean;
  readonly extraLines: readonly string[];
}

export const CHRONY_DEFAULTS = {
  iburst: true,
  makestep: { threshold: 1, limit: 3 } as Makestep,
  driftfile: '/var/lib/chrony/chrony.drift',
  rtcsync: true,
} as const;

/** One source as its chrony.conf line after the directive: `ntp1.example iburst prefer maxpoll 10`. */
export function sourceLine(s: string | NtpServer, iburstDefault: boolean): string {
  const src: NtpServer = typeof s === 'string' ? { host: s } : s;
  const extra = (src.options ?? []).map((o) => o.trim().split(/\s+/).join(' ')).filter((o) => o !== 'iburst' && o !== 'prefer' && o !== '');
  return [src.host, ...((src.iburst ?? iburstDefault) ? ['iburst'] : []), ...(src.prefer ? ['prefer'] : []), ...extra].join(' ');
}

const HANDLED = new Set(['server', 'pool', 'makestep', 'allow', 'driftfile', 'rtcsync']);

function clean(line: string): string {
  // chrony treats lines starting with !, ;, # or % as comments (there are no inline comments).
  if (/^\s*[#!;%]/.test(line)) return '';
  return line.trim().split(/\s+/).join(' ');
}

/** Parse chrony.conf into settings; directives tsconverge does not model land in extraLines. */
export function parseChronyConf(text: string): ChronySettings {
  const servers: string[] = [];
  const pools: string[] = [];
  const allow: string[] = [];
  const extraLines: string[] = [];
  let makestep: Makestep | null = null;
  let driftfile: string | null = null;
  let rtcsync = false;
  for (const raw of text.split('\n')) {
    const line = clean(raw);
    if (line === '') continue;
    const [directive, ...rest] = line.split(' ');
    const args = rest.join(' ');
    if (!HANDLED.has(directive!)) {
      extraLines.push(line);
      continue;
    }
    if (directive === 'server') servers.push(args);
    else if (directive === 'pool') pools.push(args);
    else if (directive === 'allow') allow.push(args === '' ? 'all' : args);
    else if (directive === 'driftfile') driftfile = args;
    else if (directive === 'rtcsync') rtcsync = true;
    else if (directive === 'makestep') makestep = { threshold: Number(rest[0]), limit: Number(rest[1]) };
  }
  return { servers, pools, makestep, allow, driftfile, rtcsync, extraLines };
}

export function renderChronyConf(s: ChronySettings, owner: string): string {
  const out = [`# Managed by tsconverge (${owner}). Changes made by hand are reverted on the next run.`];
  for (const l of s.servers) out.push(`server ${l}`);
  for (const l of s.pools) out.push(`pool ${l}`);
  if (s.makestep) out.push(`makestep ${s.makestep.threshold} ${s.makestep.limit}`);
  for (const a of s.allow) out.push(a === 'all' ? 'allow' : `allow ${a}`);
  if (s.driftfile) out.push(`driftfile ${s.driftfile}`);
  if (s.rtcsync) out.push('rtcsync');
  for (const l of s.extraLines) out.push(l);
  return out.join('\n') + '\n';
}

/**
 * Ask chronyd whether it accepts the file. Throws CONFIG_REJECTED with chronyd's own
 * message and the offending line of the new content.
 */
export async function checkChronyConf(
  chronyd: string,
  file: string,
  content: string,
  target: string,
  resource: string,
  signal?: AbortSignal,
  exec?: ProcessRunner,
): Promise<void> {
  const res = await runCommand(chronyd, ['-p', '-f', file], { signal, timeoutMs: 30_000, exec });
  if (res.code === 0) return;
  const message = tail(res.stderr || res.stdout)
    .replace(/^\S+Z\s+/gm, '')
    .split(file)
    .join('the new chrony.conf');
  const lineNo = /at line (\d+)/.exec(message)?.[1];
  const offending = lineNo ? content.split('\n')[Number(lineNo) - 1] : undefined;
  throw new TsconvergeError(
    'CONFIG_REJECTED',
    `chronyd rejected the new configuration: ${message}${offending !== undefined ? ` (line ${lineNo}: ${JSON.stringify(offending)})` : ''}; ${target} was left unchanged`,
    {
      resource,
      terminal: true,
      hint: 'fix the declared servers, pools, allow rules or extraLines so that `chronyd -p -f FILE` accepts them',
    },
  );
}
