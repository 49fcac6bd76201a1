/**
 * Shared driver of the hostile-input suites (parsing.test.ts, validation.test.ts): one
 * case is a set of files in a sandbox; the real CLI runs `validate` and `apply` against
 * a temp root; each must exit 1 with the error's file:line:column and field, print no
 * stack trace, and change nothing: sentinel files planted outside the root keep their
 * bytes and mode, the root stays empty, the engine holds no object with the sandbox label.
 */
import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO, dockerSnapshot, runCli, type Sandbox } from '../support/harness.js';

export interface HostileCase {
  readonly name: string;
  /** Files under the case directory; `manifest.yaml` unless `target` says otherwise. Functions get the case context. */
  readonly files: Readonly<Record<string, string | ((c: CaseContext) => string)>>;
  /** What to run: a file or directory relative to the case directory (default manifest.yaml). */
  readonly target?: string;
  /** Copy examples/fleet into the case directory first (fleet cases). */
  readonly fleet?: boolean;
  /** Extra CLI args for apply (e.g. --node). */
  readonly applyArgs?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Symlinks to make: link (relative to the case directory) -> target (absolute or relative). */
  readonly symlinks?: Readonly<Record<string, string | ((c: CaseContext) => string)>>;
  /** Anything else to prepare in the case directory (e.g. a FIFO). */
  readonly setup?: (c: CaseContext) => void;
  /** Where the error must point. */
  readonly expect: {
    /** File of the error, relative to the case directory. */
    readonly file: string;
    /** The error is at the first occurrence of this text in that file (line and column computed from it). */
    readonly at?: string;
    /** Or explicit line and column. */
    readonly line?: number;
    readonly column?: number;
    /** Text the message must contain (the field, the limit, what is accepted). */
    readonly message: RegExp;
    readonly code?: string;
  };
}

export interface CaseContext {
  readonly dir: string;
  readonly root: string;
  readonly base: string;
  readonly sentinel: string;
  readonly id: string;
  readonly prefix: string;
}

/** 1-based line and column of the first occurrence of `needle` in `text`. */
export function positionOf(text: string, needle: string): { line: number; column: number } {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`test bug: ${JSON.stringify(needle)} not found`);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

const digest = (p: string): string => {
  const st = statSync(p);
  return `${createHash('sha256').update(readFileSync(p)).digest('hex')}|${st.mode}|${st.size}`;
};

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath, e.name));
}

let counter = 0;

/** Run one hostile case through validate and apply; assert exit 1, location, field, and that nothing changed. */
export async function runHostileCase(sb: Sandbox, c: HostileCase): Promise<void> {
  const slug = `c${++counter}-${c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}`;
  const base = path.join(path.dirname(sb.root), slug);
  const dir = path.join(base, 'manifests');
  const root = path.join(base, 'root');
  mkdirSync(dir, { recursive: true });
  mkdirSync(root, { recursive: true });
  // Sentinels outside the root: where an escaping path would land.
  const sentinel = path.join(base, 'sentinel.txt');
  writeFileSync(sentinel, 'sentinel\n', { mode: 0o640 });
  const outside = [sentinel, path.join(path.dirname(sb.root), 'sentinel-shared.txt')];
  if (!existsSync(outside[1]!)) writeFileSync(outside[1]!, 'shared sentinel\n', { mode: 0o600 });
  const ctx: CaseContext = { dir, root, base, sentinel, id: sb.id, prefix: sb.prefix };
  if (c.fleet) cpSync(path.join(REPO, 'examples/fleet'), dir, { recursive: true });
  for (const [f, content] of Object.entries(c.files)) {
    const p = path.join(dir, f);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, typeof content === 'function' ? content(ctx) : content);
  }
  for (const [link, to] of Object.entries(c.symlinks ?? {})) {
    const p = path.join(dir, link);
    mkdirSync(path.dirname(p), { recursive: true });
    symlinkSync(typeof to === 'function' ? to(ctx) : to, p);
  }
  c.setup?.(ctx);
  const target = path.join(dir, c.target ?? 'manifest.yaml');
  const errorFile = path.join(dir, c.expect.file);
  const where = c.expect.at !== undefined ? positionOf(readFileSync(errorFile, 'utf8'), c.expect.at) : { line: c.expect.line, column: c.expect.column };
  const before = { files: outside.map(digest), engine: dockerSnapshot(sb.label) };

  const validate = await runCli(['validate', target], { ...c.env });
  const apply = await runCli(['apply', target, '--root', root, '--format', 'json', ...(c.applyArgs ?? [])], { ...c.env });

  for (const [cmd, r] of [
    ['validate', validate],
    ['apply', apply],
  ] as const) {
    const out = `${cmd}: exit ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;
    expect(r.code, out).toBe(1);
    expect(r.stderr + r.stdout, out).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
    expect(r.stderr + r.stdout, out).not.toMatch(/unexpected error/);
  }
  // validate, human form: "file:line:col ... message"
  // A file-level error (no line: e.g. not a regular file) names the file alone.
  const loc = where.line === undefined ? `${errorFile}:` : `${errorFile}:${where.line}${where.column === undefined ? '' : `:${where.column}`}`;
  const human = validate.stderr.split('\n').find((l) => l.includes(loc));
  expect(human, `validate should print ${loc}\n${validate.stderr}`).toBeDefined();
  expect(validate.stderr).toMatch(c.expect.message);
  // apply --format json: the same error, structured.
  const errors = (apply.json?.errors ?? []) as {
    code: string;
    message: string;
    location?: { file: string; line?: number; column?: number; pointer?: string };
  }[];
  const hit = errors.find(
    (e) => e.location?.file === errorFile && e.location.line === where.line && (where.column === undefined || e.location.column === where.column),
  );
  expect(hit, `apply --format json should report ${loc}\n${apply.stdout.slice(0, 3000)}`).toBeDefined();
  expect(`${hit!.message} ${hit!.location?.pointer ?? ''}`).toMatch(c.expect.message);
  if (c.expect.code) expect(hit!.code).toBe(c.expect.code);

  // Nothing changed.
  expect(listFiles(root), 'nothing written in the root').toEqual([]);
  expect(outside.map(digest), 'sentinels outside the root untouched').toEqual(before.files);
  expect(dockerSnapshot(sb.label), 'no engine object created').toBe(before.engine);
}
