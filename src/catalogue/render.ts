/**
 * Render handlebars templates at compile time. Templates come from the manifest or
 * module tree only (resolveTemplatePath confines them: no absolute path, no `..` out of
 * the tree, no symlink leading out of it); values from facts and parameters are data
 * passed in, never compiled as templates. Strict: an undefined variable, a partial (none
 * are registered) or a reach into `constructor`, `__proto__` or `prototype` fails the
 * compile with the template file's own line and column instead of writing an empty
 * value to a host.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type HandlebarsNS from 'handlebars';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import { memoised, readText } from './treefs.js';

const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

let instance: typeof HandlebarsNS | undefined;

/** handlebars with our helpers, loaded on the first template: catalogues without templates never load it. */
function handlebars(): typeof HandlebarsNS {
  if (instance) return instance;
  const hb = (createRequire(import.meta.url)('handlebars') as typeof HandlebarsNS).create();
  hb.registerHelper('json', (v: unknown) => JSON.stringify(v));
  hb.registerHelper('join', (v: unknown, sep: unknown) => (Array.isArray(v) ? v.join(typeof sep === 'string' ? sep : ',') : ''));
  hb.registerHelper('default', (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v));
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('string', (v: unknown) => String(v));
  hb.registerHelper('lookup', (obj: unknown, key: unknown) => {
    if (FORBIDDEN.has(String(key))) throw new Error(`lookup of "${String(key)}" is refused (prototype access)`);
    if (obj === null || typeof obj !== 'object' || !Object.prototype.hasOwnProperty.call(obj, String(key))) {
      throw new Error(`lookup: "${String(key)}" not defined`);
    }
    return (obj as Record<string, unknown>)[String(key)];
  });
  return (instance = hb);
}

/** Compiled templates by source text: the same text compiles once (bounded; cleared when full). */
const templates = new Map<string, HandlebarsTemplateDelegate>();
function compiled(source: string): HandlebarsTemplateDelegate {
  let t = templates.get(source);
  if (!t) {
    if (templates.size >= 5000) templates.clear();
    t = compileStrict(source);
    templates.set(source, t);
  }
  return t;
}

export interface RenderInput {
  readonly templatePath: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly facts: Readonly<Record<string, unknown>>;
  /** Where the manifest names the template. */
  readonly location: SourceLocation;
  readonly resource: string;
}

/** A problem in a template's own text, with its 1-based line and column when known. */
class TemplateProblem extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
  }
}

type Node = { type: string; loc?: { start: { line: number; column: number } }; [k: string]: unknown };

/** Refuse, before running it, what strict mode lets through: partials, decorators and prototype names. */
function checkAst(program: hbs.AST.Program): void {
  // Each node with the start of the statement around it: a path split over lines is reported where its `{{` opens.
  const stack: { n: unknown; stmt?: { line: number; column: number } }[] = [{ n: program }];
  while (stack.length > 0) {
    const { n, stmt } = stack.pop()!;
    if (Array.isArray(n)) {
      for (const x of n) stack.push({ n: x, stmt });
      continue;
    }
    if (!n || typeof n !== 'object' || typeof (n as Node).type !== 'string') continue;
    const node = n as Node;
    const own = /Statement$|^SubExpression$|^Decorator/.test(node.type) ? node.loc?.start : undefined;
    const at = own ?? stmt ?? node.loc?.start;
    const fail = (message: string): never => {
      throw new TemplateProblem(message, at?.line, at === undefined ? undefined : at.column + 1);
    };
    if (node.type === 'PartialStatement' || node.type === 'PartialBlockStatement') {
      const name = (node.name as { original?: unknown } | undefined)?.original;
      fail(`the partial ${String(name)} could not be found (templates have no partials: inline the text)`);
    }
    if (node.type === 'Decorator' || node.type === 'DecoratorBlock') fail('decorators are not supported in templates');
    if (node.type === 'PathExpression') {
      const bad = (node.parts as string[]).find((p) => FORBIDDEN.has(p));
      if (bad) fail(`"${String(node.original)}" reaches "${bad}": prototype access is refused`);
    }
    if (node.type === 'StringLiteral' && FORBIDDEN.has(String(node.value))) fail(`"${String(node.value)}" as a key is refused (prototype access)`);
    for (const [k, v] of Object.entries(node))
      if (k !== 'loc' && v && typeof v === 'object') stack.push({ n: v, stmt: node.type === 'Program' ? undefined : at });
  }
}

/** 1-based line and column of `{{` that never closes, else undefined. */
function unclosedMustache(source: string): { line: number; column: number } | undefined {
  const open = source.lastIndexOf('{{');
  if (open < 0 || source.indexOf('}}', open) >= 0) return undefined;
  const before = source.slice(0, open).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/**
 * Where a handlebars parse error is: "... - LINE:COL" in the message (a block closed by the
 * wrong name), else the `{{` that never closes (the parser reports the end of the file),
 * else the token the parser's lexer stopped at.
 */
function syntaxErrorAt(source: string, msg: string): { line: number; column?: number } | undefined {
  const tagged = / - (\d+):(\d+)$/.exec(msg.split('\n')[0]!);
  if (tagged) return { line: Number(tagged[1]), column: Number(tagged[2]) + 1 };
  if (/got 'EOF'/.test(msg)) {
    const open = unclosedMustache(source);
    if (open) return open;
  }
  const loc = (handlebars() as unknown as { Parser?: { lexer?: { yylloc?: { first_line: number; first_column: number } } } }).Parser?.lexer?.yylloc;
  if (loc) return { line: loc.first_line, column: loc.first_column + 1 };
  const line = /on line (\d+)/.exec(msg)?.[1];
  return line === undefined ? undefined : { line: Number(line) };
}

function compileStrict(source: string): HandlebarsTemplateDelegate {
  let ast: hbs.AST.Program;
  try {
    ast = handlebars().parse(source);
  } catch (err) {
    const msg = (err as Error).message;
    const at = syntaxErrorAt(source, msg);
    throw new TemplateProblem(
      `syntax error: ${msg
        .split('\n')
        .slice(-1)[0]!
        .replace(/ - \d+:\d+$/, '')}`,
      at?.line,
      at?.column,
    );
  }
  checkAst(ast);
  return handlebars().compile(ast, { strict: true, noEscape: true, knownHelpersOnly: false });
}

function run(source: string, data: Readonly<Record<string, unknown>>): string {
  const tpl = compiled(source);
  try {
    return tpl(data, { allowProtoPropertiesByDefault: false, allowProtoMethodsByDefault: false });
  } catch (err) {
    if (err instanceof TemplateProblem) throw err;
    const msg = (err as Error).message.split('\n')[0]!;
    const m = / - (\d+):(\d+)$/.exec(msg);
    const e = err as { lineNumber?: number; column?: number };
    const text = msg.replace(/ - \d+:\d+$/, '').replace(/ in \[object Object\]| in undefined/, '');
    throw new TemplateProblem(text, m ? Number(m[1]) : e.lineNumber, m ? Number(m[2]) + 1 : e.column === undefined ? undefined : e.column + 1);
  }
}

/**
 * Resolve `template` (as written in the manifest file `manifestFile`) inside `root`:
 * relative only, no `..` out of root, and no symlink on the way that leads out of it.
 * Returns the real path to read.
 */
export async function resolveTemplatePath(template: string, manifestFile: string, root: string, location: SourceLocation, resource: string): Promise<string> {
  const refuse = (why: string): never => {
    throw new TsconvergeError('TEMPLATE_ERROR', `template ${JSON.stringify(template)} ${why}`, {
      resource,
      location,
      terminal: true,
      hint: `templates are read from the manifest tree (${root}) only: name them relative to the manifest file, e.g. templates/app.conf.hbs`,
    });
  };
  if (path.isAbsolute(template)) refuse('is an absolute path');
  const wanted = path.resolve(path.dirname(manifestFile), template);
  const inside = (p: string, r: string): boolean => {
    const rel = path.relative(r, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };
  if (!inside(wanted, path.resolve(root))) refuse('is outside the manifest tree');
  let real: string;
  let realRoot: string;
  try {
    // Under a frozen tree (the server's snapshots) each path resolves once for every compile.
    [real, realRoot] = await Promise.all([
      memoised(wanted, 'realpath', () => realpath(wanted)),
      memoised(path.resolve(root), 'realpath', () => realpath(root)),
    ]);
  } catch (err) {
    throw new TsconvergeError('TEMPLATE_ERROR', `cannot read template ${template}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      resource,
      location,
      cause: err,
      terminal: true,
      hint: 'template paths are relative to the manifest file that names them',
    });
  }
  if (!inside(real, realRoot)) refuse('leads out of the manifest tree through a symbolic link');
  return real;
}

export async function renderTemplate(input: RenderInput): Promise<string> {
  let source: string;
  try {
    source = await readText(input.templatePath);
  } catch (err) {
    if (err instanceof TsconvergeError && err.code === 'LIMIT_EXCEEDED') throw err;
    throw new TsconvergeError('TEMPLATE_ERROR', `cannot read template ${input.templatePath}: ${(err as Error).message}`, {
      resource: input.resource,
      location: input.location,
      cause: err,
      terminal: true,
      hint: 'template paths are relative to the manifest file that names them',
    });
  }
  try {
    return run(source, { params: input.parameters, facts: input.facts });
  } catch (err) {
    const p = err instanceof TemplateProblem ? err : new TemplateProblem((err as Error).message);
    const loc = input.location;
    const where = loc.line === undefined ? loc.file : `${loc.file}:${loc.line}${loc.column === undefined ? '' : `:${loc.column}`}`;
    throw new TsconvergeError('TEMPLATE_ERROR', `${p.message} (template of ${input.resource}, named at ${where})`, {
      resource: input.resource,
      cause: err,
      terminal: true,
      location: { file: input.templatePath, line: p.line, column: p.column },
      hint: "templates see {{params.NAME}} for the resource's parameters and {{facts.NAME}} for host facts (tsconverge facts lists them); every name must be defined",
    });
  }
}

/**
 * Render one string from a module's own text (a value in module.yaml) with the same
 * strict rules. The data is passed in, never compiled: a parameter or fact whose value
 * holds `{{...}}` is inserted as it is.
 */
export function renderString(source: string, data: Readonly<Record<string, unknown>>): string {
  return run(source, data);
}

/**
 * Check a template's own text without rendering it: syntax, partials, decorators and
 * prototype names, each at the template's line and column. `validate` of a fleet tree
 * runs it on every module template, whether or not a node renders it.
 */
export function checkTemplateText(file: string, source: string): TsconvergeError | undefined {
  try {
    compiled(source);
    return undefined;
  } catch (err) {
    if (!(err instanceof TemplateProblem)) throw err;
    return new TsconvergeError('TEMPLATE_ERROR', err.message, {
      location: { file, line: err.line, column: err.column },
      terminal: true,
      hint: 'templates see {{params.NAME}} and {{facts.NAME}}; no partials, decorators or prototype names',
    });
  }
}
