/**
 * Bounded parsing: every YAML text tsconverge reads (manifests, site.yaml, module.yaml,
 * data layers) goes through parseBoundedYaml, which refuses, before any value is built,
 *   - a document larger than maxDocumentBytes,
 *   - nesting deeper than maxDepth (checked on the parser's token tree with an explicit
 *     stack, so 10,000-deep input is a clear error, not a stack overflow),
 * and gives the caller an AliasBudget that stops alias expansion (a "billion laughs"
 * document) after maxAliasNodes nodes. compile.ts refuses more than maxResources
 * resources. Each limit has an environment variable to raise it (README, "Limits and
 * validation"); each error names file:line:column, the limit and that variable.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { Composer, isMap, isScalar, isSeq, LineCounter, Parser, type Document, type Node as YamlNode } from 'yaml';
import { escapeSegment } from '../core/pointer.js';
import type { CST } from 'yaml';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import { fullSpeed, LARGE_INPUT_BYTES, parseSpeed } from '../core/tiering.js';

export interface ParseLimits {
  /** Bytes (UTF-8) of one YAML document. */
  readonly maxDocumentBytes: number;
  /** Nesting of maps and lists, counted through aliases. */
  readonly maxDepth: number;
  /** Nodes materialised through aliases in one document. */
  readonly maxAliasNodes: number;
  /** Resources in one catalogue. */
  readonly maxResources: number;
}

export const LIMIT_ENV = {
  maxDocumentBytes: 'TSCONVERGE_MAX_DOCUMENT_BYTES',
  maxDepth: 'TSCONVERGE_MAX_DEPTH',
  maxAliasNodes: 'TSCONVERGE_MAX_ALIAS_NODES',
  maxResources: 'TSCONVERGE_MAX_RESOURCES',
} as const satisfies Record<keyof ParseLimits, string>;

export const DEFAULT_LIMITS: ParseLimits = {
  maxDocumentBytes: 64 * 1024 * 1024,
  maxDepth: 64,
  maxAliasNodes: 10_000,
  maxResources: 250_000,
};

/** The YAML composer recurses: beyond this depth it runs out of stack whatever the limit says. */
export const DEPTH_CEILING = 500;

/** Limits from the environment (see LIMIT_ENV), defaults otherwise. A bad value is an error. */
export function parseLimits(env: NodeJS.ProcessEnv = process.env): ParseLimits {
  const out: Record<string, number> = { ...DEFAULT_LIMITS };
  for (const [key, name] of Object.entries(LIMIT_ENV) as [keyof ParseLimits, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) {
      throw new TsconvergeError('INVALID_VALUE', `${name}=${JSON.stringify(raw)} is not a positive integer`, {
        hint: `unset it for the default (${DEFAULT_LIMITS[key]}) or give a whole number such as ${DEFAULT_LIMITS[key]}`,
        terminal: true,
      });
    }
    out[key] = key === 'maxDepth' ? Math.min(n, DEPTH_CEILING) : n;
  }
  return out as unknown as ParseLimits;
}

export function limitError(what: string, limit: keyof ParseLimits, value: number, location: SourceLocation): TsconvergeError {
  return new TsconvergeError('LIMIT_EXCEEDED', what.includes(String(value)) ? what : `${what} (limit ${value})`, {
    location,
    terminal: true,
    hint: `raise it with ${LIMIT_ENV[limit]}=N if this input is trusted${limit === 'maxDepth' ? ` (at most ${DEPTH_CEILING})` : ''}; nothing was applied`,
  });
}

type Collection = CST.BlockMap | CST.BlockSequence | CST.FlowCollection;

/** Deepest collection nesting of a CST token, walked with an explicit stack; returns the first offender. */
function tooDeep(root: CST.Token | undefined, maxDepth: number): { offset: number; pointer?: string } | undefined {
  // Each token with the pointer of the field it is the value of, and where that field starts (its key).
  const stack: { token: CST.Token | null | undefined; depth: number; pointer?: string; fieldAt?: number }[] = [{ token: root, depth: 0, pointer: '' }];
  while (stack.length > 0) {
    const { token, depth, pointer, fieldAt } = stack.pop()!;
    if (!token) continue;
    if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > maxDepth) return { offset: fieldAt ?? token.offset, ...(pointer ? { pointer } : {}) };
      const isSeq = token.type === 'block-seq' || (token.type === 'flow-collection' && token.start.source === '[');
      (token as Collection).items.forEach((item, i) => {
        const key = item.key as CST.Token | null | undefined;
        const name = isSeq ? String(i) : key && 'source' in key && typeof key.source === 'string' ? key.source.replace(/^(["'])(.*)\1$/s, '$2') : undefined;
        const p = pointer === undefined || name === undefined ? undefined : `${pointer}/${escapeSegment(name)}`;
        stack.push({ token: key, depth: depth + 1, pointer: p });
        stack.push({ token: item.value, depth: depth + 1, pointer: p, fieldAt: isSeq ? item.value?.offset : key?.offset });
      });
    } else if (token.type === 'document') stack.push({ token: token.value, depth, pointer });
  }
  return undefined;
}

/**
 * The field whose value is the flow collection opened at `outer`: that collection is
 * replaced by null (up to its matching bracket) and the rest parsed, so the pointer and
 * the key's offset come from the parser, not from the refused nesting.
 */
function fieldOfFlow(text: string, outer: number, maxDepth: number): { pointer: string; offset: number } | undefined {
  let depth = 0;
  let end = text.length;
  for (let i = outer; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      for (i++; i < text.length && text[i] !== c; i++) if (c === '"' && text[i] === '\\') i++;
      continue;
    }
    if (c === '[' || c === '{') depth++;
    else if ((c === ']' || c === '}') && --depth === 0) {
      end = i + 1;
      break;
    }
  }
  const rest = text.slice(0, outer) + 'null' + text.slice(end);
  if (flowDepthScan(rest, maxDepth) !== undefined) return undefined;
  const doc = new Composer({ strict: false }).compose(new Parser().parse(rest), true, rest.length).next().value as Document.Parsed | undefined;
  return doc ? pointerAt(doc, outer) : undefined;
}

/**
 * A cheap lexical pass before the YAML parser: the offset of the first flow collection
 * ("[" or "{") opened deeper than maxDepth, or undefined. Brackets count inside flow
 * context, or where a flow collection can start (line start, after ": ", "- ", "? ");
 * quoted scalars and comments are skipped. Deeply nested flow input is refused in one
 * linear scan instead of being handed to the parser.
 */
export function flowTooDeep(text: string, maxDepth: number): number | undefined {
  return flowDepthScan(text, maxDepth)?.at;
}

/** flowTooDeep, with the offset of the outermost flow collection around the offender (undefined when it is in block nesting). */
function flowDepthScan(text: string, maxDepth: number): { at: number; outer?: number } | undefined {
  let depth = 0;
  let outer = 0;
  let canStart = true; // at a position where a flow collection may begin
  const indents: number[] = []; // columns of the open block collections (an estimate: the parser's tree is checked after)
  const lineStart = (i: number): { at: number } | undefined => {
    // Block nesting: a line indented deeper than the last opens a level; each leading "- " or "? " one more.
    let col = 0;
    while (text.charCodeAt(i + col) === 0x20) col++;
    const c = text.charCodeAt(i + col);
    if (Number.isNaN(c) || c === 0x0a || c === 0x23 || c === 0x0d) return undefined;
    for (;;) {
      while (indents.length > 0 && indents[indents.length - 1]! > col) indents.pop();
      if (indents.length === 0 || indents[indents.length - 1]! < col) indents.push(col);
      if (indents.length > maxDepth) return { at: i + col };
      const d = text.charCodeAt(i + col);
      if ((d !== 0x2d && d !== 0x3f) || text.charCodeAt(i + col + 1) !== 0x20) return undefined;
      col += 2;
      while (text.charCodeAt(i + col) === 0x20) col++;
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (i === 0 && depth === 0) {
      const at = lineStart(0);
      if (at !== undefined) return at;
    }
    if (c === 0x0a) {
      canStart = true;
      if (depth === 0) {
        const at = lineStart(i + 1);
        if (at !== undefined) return at;
      }
      continue;
    }
    if (c === 0x20 || c === 0x09) continue;
    if (c === 0x23 /* # */ && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if ((c === 0x22 || c === 0x27) && (depth > 0 || canStart)) {
      // a quoted scalar: skip it
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (c === 0x22 && d === 0x5c) {
          i++;
          continue;
        }
        if (d === c) {
          if (c === 0x27 && text.charCodeAt(i + 1) === 0x27) {
            i++;
            continue;
          }
          break;
        }
      }
      canStart = false;
      continue;
    }
    if ((c === 0x7c || c === 0x3e) && depth === 0 && canStart) {
      // "|" or ">": skip the block scalar's lines
      const eol = text.indexOf('\n', i);
      if (eol < 0) break;
      if (/^[|>][0-9+-]*[ \t]*(#.*)?$/.test(text.slice(i, eol))) {
        const lineStart = text.lastIndexOf('\n', i) + 1;
        const indent = /^ */.exec(text.slice(lineStart, i))![0].length;
        let next = eol + 1;
        for (;;) {
          const end = text.indexOf('\n', next);
          const row = text.slice(next, end < 0 ? text.length : end);
          if (next >= text.length || (row.trim() !== '' && /^ */.exec(row)![0].length <= indent)) break;
          if (end < 0) {
            next = text.length;
            break;
          }
          next = end + 1;
        }
        i = next - 1;
        canStart = true;
        continue;
      }
    }
    if ((c === 0x5b || c === 0x7b) && (depth > 0 || canStart)) {
      if (depth === 0) outer = i;
      if (++depth > maxDepth) return { at: i, outer };
      canStart = true;
      continue;
    }
    if ((c === 0x5d || c === 0x7d) && depth > 0) {
      depth--;
      canStart = false;
      continue;
    }
    if (depth > 0 && c === 0x2c) {
      canStart = true;
      continue;
    }
    // ":", "-" and "?" followed by a space open a value; anything else is scalar text.
    const next = text.charCodeAt(i + 1);
    canStart = (c === 0x3a || c === 0x2d || c === 0x3f) && (next === 0x20 || next === 0x0a || next === 0x09 || Number.isNaN(next));
    if (depth > 0 && c === 0x3a) canStart = true;
  }
  return undefined;
}

export interface BoundedDocument {
  readonly doc?: Document.Parsed;
  readonly lines: LineCounter;
  readonly errors: TsconvergeError[];
}

/**
 * Parse one YAML document within `limits`. Syntax errors come back as MANIFEST_PARSE,
 * limits as LIMIT_EXCEEDED, each with file:line:column. Never throws for bad text.
 */
export function parseBoundedYaml(file: string, text: string, limits: ParseLimits = parseLimits()): BoundedDocument {
  const lines = new LineCounter();
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxDocumentBytes) {
    return {
      lines,
      errors: [limitError(`document is ${bytes} bytes, larger than the limit`, 'maxDocumentBytes', limits.maxDocumentBytes, { file, line: 1, column: 1 })],
    };
  }
  const done = parseSpeed(bytes);
  try {
    return parseWithin(file, text, limits, lines);
  } finally {
    done();
  }
}

function parseWithin(file: string, text: string, limits: ParseLimits, lines: LineCounter): BoundedDocument {
  const flow = flowDepthScan(text, limits.maxDepth);
  if (flow !== undefined) {
    // Where the field whose value nests too deep starts (its key), with its pointer; else the deepest point.
    const field = flow.outer === undefined ? undefined : fieldOfFlow(text, flow.outer, limits.maxDepth);
    const at = field?.offset ?? flow.at;
    let line = 1;
    let start = 0;
    for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) {
      line++;
      start = i + 1;
    }
    const where = field ? ` in field ${field.pointer}` : '';
    return {
      lines,
      errors: [
        limitError(`nesting deeper than ${limits.maxDepth} levels${where}`, 'maxDepth', limits.maxDepth, {
          file,
          line,
          column: at - start + 1,
          ...(field ? { pointer: field.pointer } : {}),
        }),
      ],
    };
  }
  const tokens = [...new Parser(lines.addNewLine).parse(text)];
  for (const t of tokens) {
    const deep = tooDeep(t, limits.maxDepth);
    if (deep !== undefined) {
      const pos = lines.linePos(deep.offset);
      const where = deep.pointer ? ` in field ${deep.pointer}` : '';
      return {
        lines,
        errors: [
          limitError(`nesting deeper than ${limits.maxDepth} levels${where}`, 'maxDepth', limits.maxDepth, {
            file,
            line: pos.line,
            column: pos.col,
            ...(deep.pointer ? { pointer: deep.pointer } : {}),
          }),
        ],
      };
    }
  }
  const composer = new Composer({ uniqueKeys: true, strict: true, prettyErrors: true });
  let doc: Document.Parsed | undefined;
  const errors: TsconvergeError[] = [];
  for (const d of composer.compose(tokens, true, text.length)) {
    if (!doc) doc = d;
    else {
      const pos = lines.linePos(d.range[0]);
      errors.push(
        new TsconvergeError('MANIFEST_PARSE', 'more than one YAML document (a "---" line) in one file', {
          location: { file, line: pos.line, column: pos.col },
          hint: 'put one document in each file; nothing was applied',
          terminal: true,
        }),
      );
      break;
    }
  }
  for (const e of doc?.errors ?? []) {
    // An unclosed quote is reported where the parser gave up (the end of the file): point where it opens.
    const opened = e.code === 'MISSING_CHAR' && /quote/.test(e.message) ? unclosedQuoteBefore(tokens, e.pos[0]) : undefined;
    const pos = lines.linePos(opened ?? e.pos[0]);
    const at = doc && (e.code === 'DUPLICATE_KEY' || opened !== undefined) ? pointerAt(doc, opened ?? e.pos[0]) : undefined;
    const location = { file, line: pos.line, column: pos.col, ...(at ? { pointer: at.pointer } : {}) };
    if (e.code === 'RESOURCE_EXHAUSTION') {
      errors.push(limitError('nesting too deep for the YAML parser', 'maxDepth', limits.maxDepth, location));
      continue;
    }
    const msg =
      e.code === 'DUPLICATE_KEY'
        ? `duplicate key${at ? ` ${JSON.stringify(at.key)}` : ''}: a mapping may hold each key once`
        : opened !== undefined
          ? `unclosed quote: the ${text[opened] === '"' ? 'double' : 'single'}-quoted value opened here never ends`
          : e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    errors.push(
      new TsconvergeError('MANIFEST_PARSE', msg, {
        location,
        hint:
          opened !== undefined
            ? `close the quote (${text[opened]}) on the line it opens, or escape a quote inside it; nothing was applied`
            : 'fix the YAML syntax; nothing was applied',
        terminal: true,
      }),
    );
  }
  return { doc, lines, errors };
}

/** The offset of the last quoted scalar opening before `pos` that does not close; explicit stack over the CST. */
function unclosedQuoteBefore(tokens: readonly CST.Token[], pos: number): number | undefined {
  let best: number | undefined;
  const stack: (CST.Token | null | undefined)[] = [...tokens];
  while (stack.length > 0) {
    const t = stack.pop() as
      | (CST.Token & { items?: { key?: CST.Token | null; value?: CST.Token | null; start?: CST.SourceToken[] }[]; value?: CST.Token; source?: string })
      | null
      | undefined;
    if (!t) continue;
    if ((t.type === 'double-quoted-scalar' || t.type === 'single-quoted-scalar') && t.offset <= pos) {
      const q = t.type === 'double-quoted-scalar' ? /^"(?:[^"\\]|\\[\s\S])*"$/ : /^'(?:[^']|'')*'$/;
      if (!q.test(t.source ?? '') && (best === undefined || t.offset > best)) best = t.offset;
    }
    if (t.type === 'document' && t.value) stack.push(t.value);
    for (const it of t.items ?? []) {
      stack.push(it.key);
      stack.push(it.value);
    }
  }
  return best;
}

/** The pointer of the map key (or list item) that starts at `offset` in `doc`, and that key; explicit stack. */
export function pointerAt(doc: Document, offset: number): { pointer: string; key: string; offset: number } | undefined {
  const stack: { node: unknown; pointer: string }[] = [{ node: doc.contents, pointer: '' }];
  while (stack.length > 0) {
    const { node, pointer } = stack.pop()!;
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined) continue;
        const p = `${pointer}/${escapeSegment(key)}`;
        const keyAt = (pair.key as YamlNode).range?.[0];
        if (keyAt !== undefined && (keyAt === offset || (pair.value as YamlNode | null)?.range?.[0] === offset)) return { pointer: p, key, offset: keyAt };
        stack.push({ node: pair.value, pointer: p });
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) {
        if ((item as YamlNode | null)?.range?.[0] === offset) return { pointer: `${pointer}/${i}`, key: String(i), offset };
        stack.push({ node: item, pointer: `${pointer}/${i}` });
      }
    }
  }
  return undefined;
}

/**
 * Counts the nodes a walker materialises through aliases. `spend` throws LIMIT_EXCEEDED
 * once more than maxAliasNodes were built, so an alias bomb stops after a few thousand
 * nodes instead of building billions.
 */
export class AliasBudget {
  private used = 0;
  constructor(private readonly limits: ParseLimits) {}
  spend(location: () => SourceLocation): void {
    if (++this.used > this.limits.maxAliasNodes) {
      throw limitError(`aliases expand to more than ${this.limits.maxAliasNodes} nodes`, 'maxAliasNodes', this.limits.maxAliasNodes, location());
    }
  }
  depth(depth: number, location: () => SourceLocation): void {
    if (depth > this.limits.maxDepth)
      throw limitError(`nesting deeper than ${this.limits.maxDepth} levels (through aliases)`, 'maxDepth', this.limits.maxDepth, location());
  }
}

/**
 * Read a YAML file's text within maxDocumentBytes: only regular files (a FIFO or
 * /dev/zero named *.yaml must not hang the loader), size checked before reading.
 */
export async function readBoundedText(file: string, limits: ParseLimits = parseLimits()): Promise<string> {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (no effect on regular files).
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new TsconvergeError('MANIFEST_NOT_FOUND', `${file} is not a regular file`, {
        location: { file },
        hint: 'manifests, data and modules are regular files',
        terminal: true,
      });
    }
    if (st.size > limits.maxDocumentBytes) {
      throw limitError(`document is ${st.size} bytes, larger than the limit`, 'maxDocumentBytes', limits.maxDocumentBytes, { file, line: 1, column: 1 });
    }
    if (st.size >= LARGE_INPUT_BYTES) fullSpeed();
    const buf = Buffer.alloc(Math.min(st.size, limits.maxDocumentBytes) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n >= buf.length) {
        throw limitError('document changed size while being read', 'maxDocumentBytes', limits.maxDocumentBytes, { file, line: 1, column: 1 });
      }
    }
    return decodeUtf8(file, buf.subarray(0, n));
  } finally {
    await fh.close();
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1]!;
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += len;
  }
  return b.length;
}

/**
 * The text of a manifest, data, module or template file: valid UTF-8 or an error at the
 * line and column of the first invalid byte (decoding it leniently would write U+FFFD
 * replacement characters into the files it declares).
 */
export function decodeUtf8(file: string, b: Buffer): string {
  try {
    return UTF8.decode(b);
  } catch {
    const at = firstInvalidUtf8(b);
    const before = b.subarray(0, at).toString('utf8');
    const nl = before.lastIndexOf('\n');
    const line = before.split('\n').length;
    const column = [...before.slice(nl + 1)].length + 1;
    throw new TsconvergeError(
      'MANIFEST_INVALID',
      `not valid UTF-8: byte 0x${b[at]?.toString(16).padStart(2, '0') ?? '??'} at offset ${at} does not start or continue a UTF-8 character`,
      {
        location: { file, line, column },
        hint: "save the file as UTF-8 (iconv -f latin1 -t utf-8 FILE, or your editor's encoding setting)",
        terminal: true,
      },
    );
  }
}
