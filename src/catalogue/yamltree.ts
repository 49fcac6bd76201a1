/**
 * Read a fleet YAML file (site.yaml, module.yaml, a data layer) into plain data, with
 * a locator for file:line:column of any JSON pointer and the three tags the catalogue
 * compiler understands:
 *   !secret NAME   a secret, by name (data files and site.yaml params only)
 *   !append [..]   a list appended to the value of the lower layers instead of replacing it
 *   !replace {..}  a map that replaces the value of the lower layers instead of merging
 * Any other explicit tag is an error. Handlebars is never run on this text here.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type Node } from 'yaml';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import { createLocator } from './locate.js';
import { AliasBudget, parseBoundedYaml, parseLimits, type ParseLimits } from './limits.js';
import { memoised, readText } from './treefs.js';
import { fastYamlTree } from './yamlfast.js';
import { escapeSegment } from '../core/pointer.js';

// JSON pointer segments (pointer.ts), re-exported for the modules that import them from here.
export { escapeSegment, splitPointer } from '../core/pointer.js';
import { parseSpeed } from '../core/tiering.js';

export type MergeMarker = 'append' | 'replace';

/** A reference to a secret, resolved by secrets.ts. Never holds the value. */
export class SecretRef {
  constructor(
    readonly secret: string,
    readonly location: SourceLocation,
  ) {}
  toJSON(): string {
    return `!secret ${this.secret}`;
  }
}

export interface YamlTree {
  readonly file: string;
  readonly value: unknown;
  /** Pointer -> merge marker of the node there. */
  readonly markers: ReadonlyMap<string, MergeMarker>;
  readonly locate: (pointer: string) => SourceLocation;
}

export interface ReadYamlOptions {
  /** Whether !secret is allowed in this file. */
  readonly secrets: boolean;
  /** Whether !append / !replace are allowed in this file. */
  readonly markers: boolean;
}

export function parseYamlTree(
  file: string,
  text: string,
  opts: ReadYamlOptions,
  limits: ParseLimits = parseLimits(),
): { tree?: YamlTree; errors: TsconvergeError[] } {
  // Plain YAML (no tag, anchor or alias, no error...) takes the fast path (yamlfast.ts): the
  // same tree, its rare locations answered by the `yaml` path below on first use.
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= limits.maxDocumentBytes) {
    const done = parseSpeed(bytes);
    let fast;
    try {
      fast = fastYamlTree(file, text, limits);
    } finally {
      done();
    }
    if (fast) {
      let slow: ((pointer: string) => SourceLocation) | undefined;
      const slowLocate = (pointer: string): SourceLocation => {
        if (!slow) {
          const parsed = parseBoundedYaml(file, text, limits);
          slow = parsed.doc ? createLocator(file, parsed.doc as Document, parsed.lines) : (p: string) => ({ file, pointer: p });
        }
        return slow(pointer);
      };
      const { exact } = fast;
      return { tree: { file, value: fast.value, markers: new Map(), locate: (pointer) => exact(pointer) ?? slowLocate(pointer) }, errors: [] };
    }
  }
  return parseYamlTreeSlow(file, text, opts, limits);
}

/** The `yaml` package's path: every tag, anchor, alias and error, with the limits of limits.ts. */
export function parseYamlTreeSlow(
  file: string,
  text: string,
  opts: ReadYamlOptions,
  limits: ParseLimits = parseLimits(),
): { tree?: YamlTree; errors: TsconvergeError[] } {
  const { doc, lines, errors } = parseBoundedYaml(file, text, limits);
  if (errors.length > 0 || !doc) return { errors };
  const locate = createLocator(file, doc as Document, lines);
  const markers = new Map<string, MergeMarker>();
  const bad = (pointer: string, message: string, hint: string): void => {
    errors.push(new TsconvergeError('DATA_INVALID', message, { location: locate(pointer), hint, terminal: true }));
  };
  const budget = new AliasBudget(limits);
  const resolved = new Map<object, unknown>();
  // depth: collections around this node; aliased: inside an alias expansion (counted against the budget).
  const walk = (node: unknown, pointer: string, depth = 0, aliased = false): unknown => {
    if (node === null || node === undefined) return null;
    if (aliased) budget.spend(() => locate(pointer));
    if (isAlias(node)) {
      // resolve() searches the whole document: once per alias node, not once per expansion.
      let target = resolved.get(node);
      if (target === undefined) {
        target = node.resolve(doc as Document) ?? null;
        resolved.set(node, target);
      }
      return walk(target, pointer, depth, true);
    }
    const tag = (node as Node).tag;
    if (tag !== undefined && tag.startsWith('!') && !tag.startsWith('!!')) {
      if (tag === '!secret') {
        if (!opts.secrets)
          bad(
            pointer,
            `!secret ${isScalar(node) ? String(node.value) : ''} cannot be used in a plain manifest or module file: it would be written as its literal name`.replace(
              '  ',
              ' ',
            ),
            'refer to secrets from data files (data/**/*.yaml) or site.yaml params; a module receives them as parameters',
          );
        else if (!isScalar(node) || typeof node.value !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(node.value))
          bad(pointer, '!secret needs a secret name (letters, digits, _ . -)', 'write `password: !secret db_password`');
        else return new SecretRef(node.value, locate(pointer));
        return null;
      }
      if ((tag === '!append' || tag === '!replace') && opts.markers) {
        if (tag === '!append' && !isSeq(node)) bad(pointer, '!append marks a list', 'write `servers: !append [ntp3.example.org]`');
        if (tag === '!replace' && !isMap(node)) bad(pointer, '!replace marks a map', 'a list or a value always replaces; !replace is for maps');
        markers.set(pointer, tag.slice(1) as MergeMarker);
      } else {
        bad(pointer, `unknown tag ${tag}`, opts.markers ? 'accepted tags: !secret, !append, !replace' : 'this file accepts no tags');
        return null;
      }
    }
    if (isMap(node) || isSeq(node)) budget.depth(depth + 1, () => locate(pointer));
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (typeof key !== 'string' && typeof key !== 'number') {
          bad(pointer, 'map keys must be strings', 'quote the key');
          continue;
        }
        const value = walk(pair.value, `${pointer}/${escapeSegment(String(key))}`, depth + 1, aliased);
        // A "__proto__" key is data, never the object's prototype.
        Object.defineProperty(out, String(key), { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (isSeq(node)) return node.items.map((item, i) => walk(item, `${pointer}/${i}`, depth + 1, aliased));
    if (isScalar(node)) return node.value;
    return null;
  };
  let value: unknown;
  try {
    value = walk(doc.contents, '');
  } catch (err) {
    if (!(err instanceof TsconvergeError)) throw err;
    errors.push(err);
  }
  return errors.length > 0 ? { errors } : { tree: { file, value, markers, locate }, errors };
}

/** Read and parse a YAML file; a file under a frozen tree (treefs.ts) is parsed once and shared: treat the result as read-only. */
export function readYamlTree(
  file: string,
  opts: ReadYamlOptions,
  limits: ParseLimits = parseLimits(),
): Promise<{ tree?: YamlTree; errors: TsconvergeError[] }> {
  return memoised(file, `yaml:${opts.secrets}:${opts.markers}`, () => readYamlTreeNow(file, opts, limits));
}

async function readYamlTreeNow(file: string, opts: ReadYamlOptions, limits: ParseLimits): Promise<{ tree?: YamlTree; errors: TsconvergeError[] }> {
  let text: string;
  try {
    text = await readText(file, limits);
  } catch (err) {
    if (err instanceof TsconvergeError) return { errors: [err] };
    return {
      errors: [new TsconvergeError('MANIFEST_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, { location: { file }, cause: err, terminal: true })],
    };
  }
  return parseYamlTree(file, text, opts, limits);
}
