/**
 * Kind `sudo.rule`: one rule file, /etc/sudoers.d/NAME under the root (docs/access.md).
 *
 * The new file is checked with `visudo -cf` together with the rest of the sudoers
 * configuration before it replaces the old one: /etc/sudoers with every include
 * (@includedir, #includedir, @include, #include) inlined from under the root, the new
 * file in place of the old, into one scratch file that visudo parses whole (an alias
 * defined twice across files, a syntax error: refused). A refused rule changes nothing;
 * visudo's message names the file and line it came from. The file is written atomically,
 * mode 0440, owner root.
 *
 * The comparable form of both sides is the parsed rule line (who, hosts, runAs, nopasswd,
 * commands); a line added by hand adds its users and commands to the observed side, so it
 * is drift and is removed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TsconvergeError } from '../../core/errors.js';
import type { SudoRule } from '../../generated/kinds.js';
import { findBinary, requireBinary, tail } from '../hostio.js';
import { unsuitable, type Provider, type ProviderContext, type Resource, type View } from '../types.js';

export type SudoRuleAttrs = Omit<SudoRule, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;

export interface SudoRuleObserved {
  readonly text: string;
}

const DIR = '/etc/sudoers.d';
const HEADER = (id: string): string => `# Managed by tsconverge (${id}); changes made by hand are reverted at the next run.`;

/** sudo reads a file of sudoers.d only when its name has no '.' and does not end in '~'. */
export function checkRuleName(name: string, resource: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
    throw new TsconvergeError('INVALID_VALUE', `name ${JSON.stringify(name)} cannot be a file of /etc/sudoers.d`, {
      resource,
      terminal: true,
      hint: 'use letters, digits, "_" and "-": sudo skips files whose name has a "." or ends in "~"',
    });
  }
  return name;
}

/** A command's arguments with sudoers' special characters escaped. */
const escapeCommand = (c: string): string => {
  const [cmd, ...args] = c.trim().split(/\s+/);
  return [cmd, ...args.map((a) => a.replace(/([:=\\,])/g, '\\$1'))].join(' ');
};

export function renderRule(r: Resource<SudoRuleAttrs>): string {
  const a = r.attrs;
  const commands = (a.commands ?? ['ALL']).map(escapeCommand).join(', ');
  return `${HEADER(r.id)}\n${a.who.join(', ')} ${a.hosts ?? 'ALL'}=(${a.runAs ?? 'ALL:ALL'}) ${a.nopasswd === true ? 'NOPASSWD: ' : ''}${commands}\n`;
}

const RULE = /^(.+?)\s+([A-Za-z0-9_.,-]+)\s*=\s*\(([^)]*)\)\s*(NOPASSWD:\s*)?(.+)$/;

/** The comparable form of a rule file: every rule line's parts, merged; lines it cannot read go into commands as they are. */
export function ruleView(text: string): View {
  const who = new Set<string>();
  const hosts = new Set<string>();
  const runAs = new Set<string>();
  const commands: string[] = [];
  let nopasswd: boolean | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = RULE.exec(line);
    if (!m) {
      commands.push(line);
      continue;
    }
    for (const w of m[1]!.split(',')) who.add(w.trim());
    hosts.add(m[2]!);
    runAs.add(m[3]!.replace(/\s+/g, ''));
    nopasswd = nopasswd === undefined ? m[4] !== undefined : nopasswd && m[4] !== undefined;
    commands.push(...m[5]!.split(/(?<!\\),/).map((c) => c.trim().replace(/\\([:=\\,])/g, '$1')));
  }
  return {
    who: [...who].sort(),
    hosts: [...hosts].join(','),
    runAs: [...runAs].join(','),
    nopasswd: nopasswd ?? false,
    commands: [...new Set(commands)].sort(),
  };
}

const INCLUDE = /^\s*[@#](include|includedir)\s+(\S+)\s*$/;

/**
 * The whole sudoers configuration as sudo would read it, with `replace` (host path ->
 * content, null: removed) in place of what is on disk: /etc/sudoers with its includes
 * inlined from under the root. Each output line remembers where it came from.
 */
async function combined(ctx: ProviderContext, replace: ReadonlyMap<string, string | null>, resource: string): Promise<{ text: string; origin: string[] }> {
  const lines: string[] = [];
  const origin: string[] = [];
  const read = async (p: string): Promise<string | null> => (replace.has(p) ? replace.get(p)! : ctx.fs.readText(p, { resource }));
  const addFile = async (p: string, label: string, depth: number): Promise<void> => {
    const text = await read(p);
    if (text === null) return;
    let n = 0;
    for (const line of text.split('\n')) {
      n++;
      const inc = INCLUDE.exec(line);
      if (inc && depth < 8) {
        const target = inc[2]!.startsWith('/') ? inc[2]! : `${path.posix.dirname(p)}/${inc[2]}`;
        if (inc[1] === 'includedir') {
          const names = new Set([
            ...(await ctx.fs.readdir(target, { resource })),
            ...[...replace.keys()].filter((k) => path.posix.dirname(k) === target).map((k) => path.posix.basename(k)),
          ]);
          for (const name of [...names].sort()) {
            if (name.includes('.') || name.endsWith('~')) continue;
            await addFile(`${target}/${name}`, `${target}/${name}`, depth + 1);
          }
        } else await addFile(target, target, depth + 1);
        continue;
      }
      lines.push(line);
      origin.push(`${label}:${n}`);
    }
  };
  await addFile('/etc/sudoers', '/etc/sudoers', 0);
  // A root without /etc/sudoers: the drop-in directory alone.
  if (!(await read('/etc/sudoers'))) {
    const names = new Set([
      ...(await ctx.fs.readdir(DIR, { resource })),
      ...[...replace.keys()].filter((k) => path.posix.dirname(k) === DIR).map((k) => path.posix.basename(k)),
    ]);
    for (const name of [...names].sort()) if (!name.includes('.') && !name.endsWith('~')) await addFile(`${DIR}/${name}`, `${DIR}/${name}`, 1);
  }
  return { text: lines.join('\n') + '\n', origin };
}

/** visudo -cf over the whole configuration with `file` replaced by `content`; CONFIG_REJECTED naming the file and line it refuses. */
export async function checkSudoers(ctx: ProviderContext, file: string, content: string | null, resource: string): Promise<void> {
  const visudo = await requireBinary('visudo', 'to check sudoers rules before they are written', 'sudo', resource);
  const all = await combined(ctx, new Map([[file, content]]), resource);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tsconverge-sudoers-'));
  try {
    const scratch = path.join(dir, 'sudoers');
    await writeFile(scratch, all.text, { mode: 0o440 });
    const r = await ctx.exec.run(visudo, ['-c', '-f', scratch], { signal: ctx.signal, timeoutMs: 30_000 });
    if (r.code !== 0) {
      const out = (r.stderr + r.stdout)
        .split(scratch)
        .join('sudoers')
        .replace(/sudoers:(\d+):(\d+)?:?/g, (_m, line: string) => `${all.origin[Number(line) - 1] ?? `line ${line}`}:`);
      throw new TsconvergeError('CONFIG_REJECTED', `visudo rejected the sudoers configuration with the new rule: ${tail(out, 4)}; ${file} was left unchanged`, {
        resource,
        terminal: true,
        hint: 'fix the rule (who, runAs, commands); visudo checked it together with /etc/sudoers and the other files of /etc/sudoers.d',
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function createSudoRuleProvider(): Provider<SudoRuleAttrs, SudoRuleObserved> {
  const file = (r: Resource<SudoRuleAttrs>): string => `${DIR}/${checkRuleName(r.name, r.id)}`;
  return {
    kind: 'sudo.rule',
    async suitable() {
      if (await findBinary('visudo')) return undefined;
      return unsuitable('visudo (Debian package sudo) was not found on PATH; it is needed to check sudoers rules before they are written');
    },
    async readMany(resources, ctx) {
      return new Map(
        await Promise.all(
          resources.map(async (r) => {
            const text = await ctx.fs.readText(file(r), { resource: r.id });
            return [r.id, text === null ? null : { text }] as const;
          }),
        ),
      );
    },
    views(r, o) {
      if (r.attrs.ensure === 'absent') return { desired: {}, actual: o === null ? null : {} };
      return { desired: ruleView(renderRule(r)), actual: o === null ? null : ruleView(o.text) };
    },
    autoRequire(r, all) {
      const users = new Set(r.attrs.who.filter((w) => !w.startsWith('%')));
      const groups = new Set(r.attrs.who.filter((w) => w.startsWith('%')).map((w) => w.slice(1)));
      return all.filter((x) => (x.kind === 'user' && users.has(x.name)) || (x.kind === 'group' && groups.has(x.name))).map((x) => x.id);
    },
    async apply(r, _plan, _observed, ctx) {
      const target = file(r);
      if (r.attrs.ensure === 'absent') {
        await checkSudoers(ctx, target, null, r.id);
        await ctx.fs.remove(target, { resource: r.id });
        return null;
      }
      const content = renderRule(r);
      await ctx.fs.mkdirp(DIR, 0o750, { resource: r.id });
      await ctx.fs.writeAtomic(target, content, {
        mode: 0o440,
        uid: 0,
        gid: 0,
        resource: r.id,
        signal: ctx.signal,
        // The content checked is the content the rename puts in place.
        validate: () => checkSudoers(ctx, target, content, r.id),
      });
      const text = await ctx.fs.readText(target, { resource: r.id });
      return text === null ? null : { text };
    },
  };
}
