/**
 * Every documented command and flag works, read from the docs themselves (README.md and
 * docs/*.md), so a command or flag added to the docs later is checked without editing
 * this file:
 * - every `tsconverge COMMAND` in inline code or a code block is a command of the built
 *   CLI (its --help says `Usage: tsconverge COMMAND`);
 * - every flag in a commands table cell, and every flag of a flags table (a table whose
 *   first column is "flag"), is accepted by each command the paragraph above the table
 *   names (or only the one its meaning names: "(`apply` only)");
 * - every example in a shell code block that runs tsconverge is run exactly as written,
 *   from the repository, with `tsconverge` on PATH: each tsconverge command must exit 0
 *   or 2 (it ran: nothing to change, or changes), every other line 0. Each example gets its
 *   own scratch directory and ports through the variables the walk-throughs use (`DEMO`,
 *   `PORT`, `DASHBOARD_PORT`, `PUSH_PORTS`), so examples never collide with each other or
 *   with anything else on the machine. In documented output, `…` stands for any text (a
 *   duration). Blocks fenced
 *   ```sh host``` set up a real host (systemd units, /usr/local/bin, a foreground agent):
 *   their commands and flags are checked like the rest, but they are not run here.
 */
import { describe, expect, it, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, REPO, docker, freePort } from './support/harness.js';

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const text = (f: string): string => readFileSync(path.join(REPO, f), 'utf8');

const helpCache = new Map<string, string>();
function help(args: string[]): string {
  const key = args.join(' ');
  if (!helpCache.has(key)) helpCache.set(key, runHelp(args));
  return helpCache.get(key)!;
}
function runHelp(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return `${r.stdout}${r.stderr}`;
}

/** Markdown outside fenced code blocks, and the fenced blocks themselves. */
interface Block {
  lang: string;
  host: boolean;
  lines: string[];
  file: string;
  line: number;
}
function split(md: string): { prose: string[]; blocks: Block[] } {
  const prose: string[] = [];
  const blocks: Block[] = [];
  let block: Block | undefined;
  md.split('\n').forEach((l, i) => {
    const fence = /^```(\S*)(?:\s+(host))?/.exec(l);
    if (fence && !block) {
      block = { lang: fence[1] ?? '', host: fence[2] === 'host', lines: [], file: '', line: i + 2 };
      return;
    }
    if (l.startsWith('```') && block) {
      blocks.push(block);
      block = undefined;
      return;
    }
    if (block) block.lines.push(l);
    else prose.push(l);
  });
  return { prose, blocks };
}

/** A command line that runs tsconverge: `tsconverge CMD [SUB]`, `$ tsconverge CMD`, `VAR=x tsconverge CMD`. */
const INVOCATION = /^\s*(?:\$ )?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*tsconverge\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?/;

/** The subcommands a command lists under "Commands:" in its --help (`agent` -> disable, enable). */
function subcommandsOf(cmd: string): Set<string> {
  const out = help([cmd]);
  const at = out.indexOf('\nCommands:');
  if (at < 0) return new Set();
  return new Set(
    out
      .slice(at)
      .split('\n')
      .slice(1)
      .map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
      .filter((w): w is string => !!w && w !== 'help'),
  );
}
/** `agent disable` when disable is a subcommand of agent, else `agent` (the second word is an argument). */
const commandOf = (first: string, second: string | undefined): string => (second && subcommandsOf(first).has(second) ? `${first} ${second}` : first);
/** A shell example: a sh/bash/console block, or an untyped block of `$ ` prompt lines. */
const isShell = (b: { lang: string; lines: string[] }): boolean =>
  /^(sh|bash|shell|console)$/.test(b.lang) || (b.lang === '' && b.lines.some((l) => l.startsWith('$ ')));
const codeSpans = (s: string): string[] => [...s.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
const flagsIn = (s: string): string[] => [...s.matchAll(/(?:^|[\s[(])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!);

// ---- commands ----------------------------------------------------------------------
const commands = new Map<string, Set<string>>(); // command -> where it is documented
for (const f of DOCS) {
  const { prose, blocks } = split(text(f));
  const candidates = [...prose.flatMap(codeSpans), ...blocks.filter(isShell).flatMap((b) => (b.lang ? b.lines : b.lines.filter((l) => l.startsWith('$ '))))];
  for (const c of candidates) {
    for (const m of [INVOCATION.exec(c)].filter((x) => x !== null)) {
      const cmd = commandOf(m[1]!, m[2]);
      if (!commands.has(cmd)) commands.set(cmd, new Set());
      commands.get(cmd)!.add(f);
    }
  }
}

// ---- flags from tables --------------------------------------------------------------
interface FlagCase {
  file: string;
  command: string;
  flag: string;
}
const flagCases: FlagCase[] = [];
for (const f of DOCS) {
  const lines = split(text(f)).prose;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('|') || (i > 0 && lines[i - 1]!.startsWith('|'))) continue;
    const rows: string[][] = [];
    for (let j = i; j < lines.length && lines[j]!.startsWith('|'); j++) {
      rows.push(
        lines[j]!.replace(/\\\|/g, '/')
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    }
    const head = rows[0]![0]!.toLowerCase();
    const body = rows.slice(2);
    if (head === 'command') {
      for (const r of body) {
        for (const span of codeSpans(r[0]!)) {
          const m = /^tsconverge\s+([a-z][a-z-]*)?(?:\s+([a-z][a-z-]*))?(.*)$/.exec(span);
          if (!m) continue;
          const cmd = m[1] ? commandOf(m[1], m[2]) : '';
          const rest = m[1] && m[2] && cmd === m[1] ? ` ${m[2]}${m[3]}` : m[3]!;
          for (const flag of flagsIn(rest)) flagCases.push({ file: f, command: cmd, flag });
        }
      }
    } else if (head === 'flag') {
      // The commands that take these flags: named in the paragraph above the table.
      let k = i - 1;
      while (k >= 0 && lines[k]!.trim() === '') k--;
      const para: string[] = [];
      while (k >= 0 && lines[k]!.trim() !== '' && !lines[k]!.startsWith('|') && !lines[k]!.startsWith('#')) para.unshift(lines[k--]!);
      // A span names a command by its first word or two (`import compose FILE...` -> import compose).
      const named = codeSpans(para.join(' '))
        .map((c) => c.split(/\s+/))
        .map((w) => (commands.has(`${w[0]} ${w[1]}`) ? `${w[0]} ${w[1]}` : w[0]!))
        .filter((c) => commands.has(c));
      it(`${f}: the flags table at line ~${i + 1} names the commands it is for`, () => {
        expect(named.length, `paragraph above the table: ${para.join(' ')}`).toBeGreaterThan(0);
      });
      for (const r of body) {
        const flag = flagsIn(codeSpans(r[0]!).join(' '))[0];
        if (!flag) continue;
        const only = /\(`([a-z-]+)` only\b/.exec(r.slice(1).join(' '));
        for (const cmd of only ? [only[1]!] : named) flagCases.push({ file: f, command: cmd, flag });
      }
    }
  }
}

// Prose: "`validate` takes `--format human|json`".
for (const f of DOCS) {
  const prose = split(text(f)).prose.join(' ');
  for (const m of prose.matchAll(/`([a-z][a-z-]*)` (?:also )?takes ((?:`[^`]+`(?:,\s*|\s+and\s+|\s+or\s+)?)+)/g)) {
    if (!commands.has(m[1]!)) continue;
    for (const flag of flagsIn(codeSpans(m[2]!).join(' '))) flagCases.push({ file: f, command: m[1]!, flag });
  }
}

describe('the README', () => {
  it('is at most about 300 lines, and its command table names every command of the CLI', () => {
    const readme = text('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    const out = help([]);
    const top = out
      .slice(out.indexOf('\nCommands:'))
      .split('\n')
      .slice(1)
      .map((l) => /^ {2}([a-z][a-z-]*)/.exec(l)?.[1])
      .filter((w): w is string => !!w && w !== 'help');
    expect(top.length).toBeGreaterThan(10);
    const table = split(readme)
      .prose.filter((l) => l.startsWith('| `tsconverge'))
      .join('\n');
    for (const cmd of [...top, ...[...subcommandsOf('ca')].map((c) => `ca ${c}`)])
      expect(table, `README's command table lacks ${cmd}`).toContain(`\`tsconverge ${cmd}`);
  });
});

describe('documented commands exist', () => {
  it('the docs document at least the core commands', () => {
    expect([...commands.keys()]).toEqual(expect.arrayContaining(['apply', 'plan', 'validate', 'compile', 'explain', 'facts']));
  });
  it.each([...commands].map(([c, where]) => [c, [...where].join(', ')]))('tsconverge %s (documented in %s)', (cmd) => {
    expect(help(cmd.split(' '))).toContain(`Usage: tsconverge ${cmd} `);
  });
});

describe('documented flags are accepted', () => {
  it.each(flagCases.map((c) => [c.command || '(program)', c.flag, c.file]))('tsconverge %s %s (%s)', (cmd, flag) => {
    const out = help(cmd === '(program)' ? [] : cmd.split(' '));
    expect(out).toMatch(new RegExp(`(^|[\\s,])${flag.replace(/-/g, '\\-')}([\\s,<[=]|$)`, 'm'));
  });
});

// ---- examples -----------------------------------------------------------------------
interface Example {
  file: string;
  line: number;
  script: string[];
  output: string[];
}
const examples: Example[] = [];
for (const f of DOCS) {
  for (const b of split(text(f)).blocks) {
    if (!isShell(b) || b.host) continue; // `sh host`: a real host's setup (systemd, /usr/local/bin): checked above, not run
    const prompted = b.lines.some((l) => l.startsWith('$ '));
    const logical: string[] = [];
    for (const raw of b.lines) {
      if (prompted && !raw.startsWith('$ ') && !(logical.length && logical[logical.length - 1]!.endsWith('\\'))) continue;
      const l = prompted && raw.startsWith('$ ') ? raw.slice(2) : raw;
      if (logical.length && logical[logical.length - 1]!.endsWith('\\'))
        logical[logical.length - 1] = logical[logical.length - 1]!.slice(0, -1) + ' ' + l.trim();
      else logical.push(l);
    }
    const cmds = logical.filter((l) => l.trim() && !l.trim().startsWith('#'));
    if (!cmds.some((l) => /(^|\s)(tsconverge|bin\/tsconverge\.js)\s/.test(l))) continue;
    // In a `$ ` prompt block, the other lines are the documented output.
    const output = prompted ? b.lines.filter((l) => !l.startsWith('$ ') && l.trim() && !l.trim().startsWith('...')).map((l) => l.trim()) : [];
    examples.push({ file: f, line: b.line, script: cmds, output });
  }
}

const shim = mkdtempSync(path.join(tmpdir(), 'hr-docs-'));
writeFileSync(path.join(shim, 'tsconverge'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
chmodSync(path.join(shim, 'tsconverge'), 0o755);

// Objects the quickstart and "Coming from Compose" examples create; removed afterwards unless they were there before.
const QUICKSTART = {
  containers: ['quickstart-web', 'shop_web_1', 'shop_db_1'],
  volumes: ['quickstart-data', 'shop_db-data'],
  networks: ['quickstart', 'shop_default'],
};
const exists = (kind: string, name: string): boolean => {
  try {
    docker(kind, 'inspect', name);
    return true;
  } catch {
    return false;
  }
};
const before = Object.fromEntries(
  Object.entries(QUICKSTART).map(([k, names]) => [k, names.filter((n) => exists(k === 'containers' ? 'container' : k.slice(0, -1), n))]),
);
afterAll(() => {
  for (const c of QUICKSTART.containers)
    if (!before.containers!.includes(c)) {
      try {
        docker('rm', '-f', c);
      } catch {
        /* not there */
      }
    }
  for (const n of QUICKSTART.networks)
    if (!before.networks!.includes(n)) {
      try {
        docker('network', 'rm', n);
      } catch {
        /* engine quirk */
      }
    }
  for (const v of QUICKSTART.volumes)
    if (!before.volumes!.includes(v)) {
      try {
        docker('volume', 'rm', v);
      } catch {
        /* in use */
      }
    }
  rmSync(shim, { recursive: true, force: true });
});

/** Names and modification times under the machine's own state directory. */
const machineState = (): string[] => {
  const dir = '/var/lib/tsconverge';
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((f) => `${f} ${statSync(path.join(dir, f)).mtimeMs}`);
};
const machineStateBefore = machineState();

describe('documented examples run as written', () => {
  it('the docs hold examples', () => {
    expect(examples.length).toBeGreaterThan(2);
  });
  it.each(examples.map((e) => [`${e.file}:${e.line}`, e]))(
    '%s',
    async (_where, ex) => {
      const rcFile = path.join(shim, `rc-${Math.random().toString(36).slice(2)}`);
      const script = ex.script.flatMap((l, i) => [l, `echo "${i} $?" >> '${rcFile}'`]).join('\n');
      // The walk-throughs' scratch directory and ports: this example's own.
      const demo = mkdtempSync(path.join(tmpdir(), 'i24-docs-demo-'));
      const vars = {
        DEMO: demo,
        PORT: String(await freePort()),
        DASHBOARD_PORT: String(await freePort()),
        PUSH_PORTS: `${await freePort()} ${await freePort()}`,
      };
      // A command written without --root or --state-dir keeps its state in /var/lib/tsconverge,
      // as on an operator's machine. Here that directory is a tmpfs of this example's own, in a
      // private mount namespace: the walk-throughs start from an empty state and never write
      // the test machine's.
      const isolated = [
        '--mount',
        '--propagation',
        'private',
        'bash',
        '-c',
        'mkdir -p /var/lib/tsconverge && mount -t tmpfs tsconverge-docs /var/lib/tsconverge && exec bash -c "$1"',
        'docs-example',
        script,
      ];
      const out = spawnSync('unshare', isolated, {
        cwd: REPO,
        encoding: 'utf8',
        env: { ...process.env, ...vars, NO_COLOR: '1', PATH: `${shim}:${process.env.PATH}` },
        timeout: 170_000,
      });
      rmSync(demo, { recursive: true, force: true });
      const rcs = readFileSync(rcFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => Number(l.split(' ')[1]));
      ex.script.forEach((l, i) => {
        const isTsc = /(^|\s)(tsconverge|bin\/tsconverge\.js)\s/.test(l);
        const ok = isTsc ? [0, 2] : [0];
        expect(ok, `${ex.file}:${ex.line}: \`${l}\` exited ${rcs[i]}\n${out.stderr.slice(-2000)}`).toContain(rcs[i]);
      });
      for (const line of ex.output) {
        const pattern = new RegExp(
          line
            .split('…')
            .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*'),
        );
        expect(out.stdout, `${ex.file}:${ex.line}: documented output: ${line}`).toMatch(pattern);
      }
    },
    180_000,
  );
  it("leave the machine's own /var/lib/tsconverge as it was", () => {
    expect(machineState()).toEqual(machineStateBefore);
  });
});
