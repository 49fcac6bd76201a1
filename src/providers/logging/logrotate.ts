/**
 * logrotate rule files: render one rule (`PATHS { directives }`) from attributes,
 * parse it back into a comparable form, and check a new file with `logrotate -d`
 * (debug mode: parses the file and rotates nothing) before it replaces the old one.
 */
import { rm } from 'node:fs/promises';
import { TsconvergeError } from '../../core/errors.js';
import { compactView, runCommand } from '../hostio.js';
import type { ProcessRunner } from '../../core/exec.js';
import type { View } from '../types.js';

export const FREQUENCIES = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type Frequency = (typeof FREQUENCIES)[number];

/** Directives that are on or off: `compress` / `nocompress`. */
export const FLAGS = ['compress', 'delaycompress', 'missingok', 'notifempty', 'copytruncate', 'dateext', 'sharedscripts'] as const;
export type Flag = (typeof FLAGS)[number];
const NEGATION: Readonly<Record<string, Flag>> = {
  nocompress: 'compress',
  nodelaycompress: 'delaycompress',
  nomissingok: 'missingok',
  ifempty: 'notifempty',
  nocopytruncate: 'copytruncate',
  nodateext: 'dateext',
  nosharedscripts: 'sharedscripts',
};
const VALUED = ['rotate', 'size', 'minsize', 'maxsize', 'maxage', 'create', 'su'] as const;
type Valued = (typeof VALUED)[number];
const SCRIPTS = ['prerotate', 'postrotate'] as const;
type Script = (typeof SCRIPTS)[number];

export type RotateRule = {
  paths: string[];
  frequency: Frequency | null;
  extraLines: string[];
} & { [F in Flag]: boolean | null } & { [V in Valued]: string | null } & { [S in Script]: string | null };

export interface RotateSettings {
  readonly paths: readonly string[];
  readonly frequency?: Frequency;
  readonly rotate?: number;
  readonly size?: string;
  readonly minsize?: string;
  readonly maxsize?: string;
  readonly maxage?: number;
  readonly create?: string;
  readonly su?: string;
  readonly prerotate?: string;
  readonly postrotate?: string;
  readonly extraLines?: readonly string[];
  readonly compress?: boolean;
  readonly delaycompress?: boolean;
  readonly missingok?: boolean;
  readonly notifempty?: boolean;
  readonly copytruncate?: boolean;
  readonly dateext?: boolean;
  readonly sharedscripts?: boolean;
}

/** Defaults tsconverge applies: a rule for a log that does not exist yet is not an error. */
export const ROTATE_DEFAULTS = { missingok: true, notifempty: true } as const;

function emptyRule(): RotateRule {
  const r: Record<string, unknown> = { paths: [], frequency: null, extraLines: [] };
  for (const k of [...FLAGS, ...VALUED, ...SCRIPTS]) r[k] = null;
  return r as RotateRule;
}

function quotePath(p: string): string {
  return /[\s"{}]/.test(p) ? JSON.stringify(p) : p;
}

/** Split a path list, honouring double and single quotes. */
export function splitPaths(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

export function renderRotate(s: RotateSettings, owner: string): string {
  const out = [`# Managed by tsconverge (${owner}). Changes made by hand are reverted on the next run.`, `${s.paths.map(quotePath).join(' ')} {`];
  const flags = { ...ROTATE_DEFAULTS, ...s } as Record<string, unknown>;
  if (s.frequency) out.push(`    ${s.frequency}`);
  for (const k of VALUED) if (s[k] !== undefined) out.push(`    ${k} ${s[k]}`);
  for (const f of FLAGS) {
    if (flags[f] === true) out.push(`    ${f}`);
    else if (flags[f] === false) out.push(`    ${Object.keys(NEGATION).find((n) => NEGATION[n] === f)}`);
  }
  for (const l of s.extraLines ?? []) out.push(`    ${l.trim()}`);
  for (const k of SCRIPTS) {
    const script = s[k];
    if (script === undefined) continue;
    out.push(
      `    ${k}`,
      ...script
        .replace(/\n+$/, '')
        .split('\n')
        .map((l) => `        ${l}`),
      '    endscript',
    );
  }
  out.push('}');
  return out.join('\n') + '\n';
}

/** Parse a rule file as logrotate would, into the comparable form (unset directives are null). */
export function parseRotate(text: string): RotateRule {
  const rule = emptyRule();
  let script: Script | null = null;
  let scriptLines: string[] = [];
  for (const raw of text.replace(/\r\n/g, '\n').split('\n')) {
    const line = raw.trim();
    if (script) {
      if (line === 'endscript') {
        rule[script] = scriptLines.join('\n');
        script = null;
      } else scriptLines.push(line);
      continue;
    }
    if (line === '' || line.startsWith('#') || line === '}') continue;
    if (line.endsWith('{')) {
      rule.paths.push(...splitPaths(line.slice(0, -1)));
      continue;
    }
    const [word, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    if ((SCRIPTS as readonly string[]).includes(word!)) {
      script = word as Script;
      scriptLines = [];
    } else if ((FREQUENCIES as readonly string[]).includes(word!) && arg === '') rule.frequency = word as Frequency;
    else if ((FLAGS as readonly string[]).includes(word!) && arg === '') rule[word as Flag] = true;
    else if (NEGATION[word!] && arg === '') rule[NEGATION[word!]!] = false;
    else if ((VALUED as readonly string[]).includes(word!) && arg !== '') rule[word as Valued] = arg;
    else rule.extraLines.push([word, ...rest].join(' '));
  }
  return rule;
}

export function rotateView(text: string): View {
  const r = parseRotate(text);
  const num = (v: string | null): number | string | null => (v !== null && /^\d+$/.test(v) ? Number(v) : v);
  return compactView({ ...r, paths: [...r.paths].sort(), extraLines: [...r.extraLines], rotate: num(r.rotate), maxage: num(r.maxage) });
}

/** Lines of logrotate's debug output that mean the configuration itself is wrong. */
export function configErrors(output: string): string[] {
  return output.split('\n').filter((l) => /^error: /.test(l) && !/^error: (stat of|destination|.*No such file or directory)/.test(l));
}

/**
 * Check a rule file with `logrotate -d` against a throwaway state file. Logs that do
 * not exist (yet) are not a configuration error; a parse error is, even one logrotate
 * itself would skip with exit code 0.
 */
export async function checkRotate(
  logrotate: string,
  file: string,
  target: string,
  resource: string,
  signal?: AbortSignal,
  exec?: ProcessRunner,
): Promise<void> {
  // The throwaway state file sits beside the temp rule file (inside the root, named like
  // it, so a sweep removes it if tsconverge is killed), never in the machine's /tmp.
  const state = `${file}.state`;
  try {
    const res = await runCommand(logrotate, ['-d', '-s', state, file], { signal, timeoutMs: 30_000, exec });
    const errors = configErrors(res.stderr + '\n' + res.stdout);
    // logrotate exits 0 after "unknown option -- ignoring line": a line it ignores is a
    // rejected line. A non-zero exit for a log that does not exist here is not.
    if (errors.length === 0) return;
    const message = errors
      .slice(0, 5)
      .map((l) =>
        l
          .replace(/^error: /, '')
          .split(file)
          .join('the new rule file'),
      )
      .join('; ');
    throw new TsconvergeError('CONFIG_REJECTED', `logrotate rejected the new rule file: ${message}; ${target} was left unchanged`, {
      resource,
      terminal: true,
      hint: 'fix the declared directives or extraLines so that `logrotate -d FILE` accepts them',
    });
  } finally {
    await rm(state, { force: true });
  }
}
