/**
 * Compile validated manifest resources into the resolved, deep-readonly Catalogue that
 * the engine runs: templates rendered, relationships normalised to id lists and
 * checked, duplicates rejected, a content hash as the catalogue's version.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { TsconvergeError, ManifestErrors } from '../core/errors.js';
import type { Catalogue, CatalogueResource, Relation } from '../core/types.js';
import type { Facts } from '../facts/facts.js';
import { createSchemaRegistry, type SchemaRegistry } from '../spec/schemas.js';
import { refsOf } from '../spec/refs.js';
import { listManifestFiles, loadManifestFile, isMetaKey, type ManifestResource } from './load.js';
import { renderTemplate, resolveTemplatePath } from './render.js';
import { limitError, parseLimits } from './limits.js';
import { checkConflicts } from './conflicts.js';

export const RELATIONS: readonly Relation[] = ['require', 'before', 'notify', 'subscribe'];

export interface CompileOptions {
  readonly facts: Facts;
  readonly registry?: SchemaRegistry;
  /**
   * Secret plaintexts (see secrets.ts): every attribute value that contains one, after
   * templates are rendered, is recorded in the resource's `sensitive` pointers.
   */
  readonly sensitiveValues?: readonly string[];
  /**
   * The manifest tree templates are confined to. Default: the directory of the file
   * that declares the resource (a module's directory for fleet modules).
   */
  readonly manifestRoot?: string;
  /**
   * Other resources of the catalogue were refused before compiling (schema errors): a
   * reference is not checked, since it may name one of them. The compile still runs over
   * the valid resources, so every error of one pass (each bad template) is reported.
   */
  readonly partial?: boolean;
}

export function resourceId(kind: string, name: string): string {
  return `${kind}[${name}]`;
}

function asList(v: unknown): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** JSON with object keys sorted: the same value always gives the same bytes. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Kind-specific resolution of user input (today: file templates). */
async function resolveAttrs(r: ManifestResource, attrs: Record<string, unknown>, facts: Facts, root: string | undefined): Promise<Record<string, unknown>> {
  if (r.kind === 'file' && typeof attrs.template === 'string') {
    const id = resourceId(r.kind, r.name);
    const content = await renderTemplate({
      templatePath: await resolveTemplatePath(attrs.template, r.file, root ?? path.dirname(r.file), r.locate('/template'), id),
      parameters: (attrs.parameters ?? {}) as Record<string, unknown>,
      facts: facts as unknown as Record<string, unknown>,
      location: r.locate('/template'),
      resource: id,
    });
    return { ...attrs, content };
  }
  return attrs;
}

/**
 * JSON pointers of the values in `attrs` whose strings contain one of `secrets`: a map
 * key is kept (`/environment/DB_PASSWORD`), a list is marked as a whole (`/command`),
 * because the engine may compare lists in another order than they are declared.
 */
export function taintedPointers(attrs: Readonly<Record<string, unknown>>, secrets: readonly string[]): string[] {
  if (secrets.length === 0) return [];
  const out: string[] = [];
  const esc = (k: string): string => k.replace(/~/g, '~0').replace(/\//g, '~1');
  const contains = (v: unknown): boolean => {
    if (typeof v === 'string') return secrets.some((s) => s !== '' && v.includes(s));
    if (v && typeof v === 'object') return Object.values(v).some(contains);
    return false;
  };
  const walk = (obj: Readonly<Record<string, unknown>>, pointer: string): void => {
    for (const [k, x] of Object.entries(obj)) {
      if (x && typeof x === 'object' && !Array.isArray(x)) walk(x as Record<string, unknown>, `${pointer}/${esc(k)}`);
      else if (contains(x)) out.push(`${pointer}/${esc(k)}`);
    }
  };
  walk(attrs, '');
  return out.sort();
}

/** A catalogue's version: the content hash of its resolved resources (ids, attributes, relations). */
export function catalogueVersion(resources: readonly Pick<CatalogueResource, 'id' | 'attrs' | 'relations'>[]): string {
  return (
    'sha256:' +
    createHash('sha256')
      .update(canonicalJson(resources.map((r) => ({ id: r.id, attrs: r.attrs, relations: r.relations }))))
      .digest('hex')
  );
}

/** Freeze a catalogue built outside the compiler (a cached one); the same shape compileResources returns. */
export function freezeCatalogue(c: Catalogue): Catalogue {
  return deepFreeze(c);
}

export async function compileResources(items: readonly ManifestResource[], opts: CompileOptions): Promise<Catalogue> {
  const registry = opts.registry ?? createSchemaRegistry();
  const limits = parseLimits();
  if (items.length > limits.maxResources) {
    const over = items[limits.maxResources]!;
    throw new ManifestErrors([
      limitError(`the catalogue has ${items.length} resources, more than the limit`, 'maxResources', limits.maxResources, over.source),
    ]);
  }
  const errors: TsconvergeError[] = [];
  const byId = new Map<string, CatalogueResource>();
  const resources: CatalogueResource[] = [];
  const bodies = new Map<string, Readonly<Record<string, unknown>>>();
  for (const item of items) {
    const id = resourceId(item.kind, item.name);
    const prior = byId.get(id);
    if (prior) {
      errors.push(
        new TsconvergeError('DUPLICATE_RESOURCE', `${id} is declared twice; first at ${prior.source?.file}:${prior.source?.line}`, {
          resource: id,
          location: item.locate('/name'),
          terminal: true,
          hint: 'give each resource of a kind a unique name',
        }),
      );
      continue;
    }
    const declared: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(item.body)) if (!isMetaKey(k)) declared[k] = v;
    let attrs: Record<string, unknown>;
    try {
      attrs = await resolveAttrs(item, declared, opts.facts, opts.manifestRoot);
    } catch (err) {
      errors.push(err as TsconvergeError);
      continue;
    }
    const spec = registry.kinds.get(item.kind)!;
    const sensitive = [...spec.attributes].filter(([, a]) => a.sensitive).map(([k]) => k);
    if (attrs.sensitive === true && !sensitive.includes('content')) sensitive.push('content');
    for (const p of taintedPointers(attrs, opts.sensitiveValues ?? [])) if (!sensitive.includes(p)) sensitive.push(p);
    const relations = Object.fromEntries(RELATIONS.map((rel) => [rel, asList(item.body[rel])])) as Record<Relation, string[]>;
    const res: CatalogueResource = {
      kind: item.kind,
      name: item.name,
      id,
      attrs,
      source: item.source,
      sensitive,
      relations,
      locate: item.locate,
    };
    byId.set(id, res);
    bodies.set(id, item.body);
    resources.push(res);
  }
  for (const r of opts.partial ? [] : resources) {
    for (const rel of RELATIONS) {
      r.relations[rel].forEach((ref, i) => {
        if (!byId.has(ref)) {
          const single = !Array.isArray(bodies.get(r.id)?.[rel]);
          errors.push(
            new TsconvergeError('UNKNOWN_REFERENCE', `${rel} refers to ${ref}, which is not declared`, {
              resource: r.id,
              location: r.locate(single ? `/${rel}` : `/${rel}/${i}`),
              terminal: true,
              hint: `declare ${ref} or fix the reference; known ${ref.split('[')[0]} resources: ${
                resources
                  .filter((x) => x.kind === ref.split('[')[0])
                  .map((x) => x.name)
                  .join(', ') || 'none'
              }`,
            }),
          );
        }
      });
    }
  }
  for (const r of resources) {
    for (const ref of refsOf(registry.kinds.get(r.kind)?.refs ?? [], r)) {
      if (byId.has(ref.id)) continue;
      const known = resources.filter((x) => x.kind === ref.kind).map((x) => x.name);
      errors.push(
        new TsconvergeError(
          'UNKNOWN_REFERENCE',
          `${ref.pointer.slice(1).replace(/\//g, '.')} names ${ref.kind} ${JSON.stringify(ref.name)}, which is not declared`,
          {
            resource: r.id,
            location: r.locate(ref.pointer),
            terminal: true,
            hint: `declare ${ref.id} or fix the name; known ${ref.kind} resources: ${known.join(', ') || 'none'}`,
          },
        ),
      );
    }
  }
  errors.push(...checkConflicts(resources, registry));
  if (errors.length > 0) throw new ManifestErrors(errors);
  return deepFreeze({ version: catalogueVersion(resources), resources, byId }) as Catalogue;
}

/** Load every manifest under `target`, validate it, and compile it. Throws ManifestErrors listing every problem. */
export async function loadCatalogue(target: string, opts: CompileOptions): Promise<Catalogue> {
  const registry = opts.registry ?? createSchemaRegistry();
  const files = await listManifestFiles(target);
  const all: ManifestResource[] = [];
  const errors: TsconvergeError[] = [];
  for (const f of files) {
    const out = await loadManifestFile(f, registry);
    for (const r of out.resources) all.push(r);
    for (const e of out.errors) errors.push(e);
  }
  const root = files.length === 1 && files[0] === target ? path.dirname(path.resolve(target)) : path.resolve(target);
  if (errors.length === 0) return compileResources(all, { manifestRoot: root, ...opts, registry });
  // Schema errors: compile the valid resources anyway (templates rendered, conflicts checked) so that
  // one pass reports every problem, not only the first kind of them.
  try {
    await compileResources(all, { manifestRoot: root, ...opts, registry, partial: true });
  } catch (err) {
    if (!(err instanceof ManifestErrors)) throw err;
    for (const e of err.errors) errors.push(e);
  }
  throw new ManifestErrors(errors);
}
