/**
 * The JSON Schemas in spec/ are the single source of truth for every resource kind:
 * ajv validates manifests with them, TypeScript types are generated from them, the
 * the manifest reference (docs/kinds.md) is built from their descriptions, and the engine reads
 * their annotations to know how a change is applied:
 *   x-change:    "update" (converged in place) | "restart" (in place, then restarted) |
 *                "replace" (forces a replace); default replace
 *   x-compare:   false for a parameter that is not compared with the observed state
 *   x-sensitive: true for a value that is never shown
 * and, on a kind schema itself:
 *   x-claim:     what a resource of the kind owns (claims.ts), so two resources that
 *                would manage one thing are refused
 *   x-view:      parts of the kind's view that are no attribute ({"iptables": "update"})
 *                and how a change of one is applied
 *   x-ref:       names of other resources inside the attributes (refs.ts), refused at
 *                validate when the catalogue does not declare them
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction, AnySchemaObject } from 'ajv';
import { precompiled } from './precompiled.js';
import { BUNDLE } from '../core/bundle.js';
import { createRequire } from 'node:module';
import { FORMATS } from './formats.js';
import { CLAIM_META_SCHEMA, readClaims, type ClaimSpec } from './claims.js';
import { REF_META_SCHEMA, readRefs, type RefSpec } from './refs.js';

export const SPEC_DIR = fileURLToPath(new URL('../../spec/', import.meta.url));
export const BASE = 'https://tsconverge.dev/spec/';
/** The schema of a manifest file as a whole (each resource is validated against its kind). */
export const MANIFEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['resources'],
  properties: { resources: { type: 'array', items: { type: 'object' } } },
} as const;
export const META_KEYS = ['kind', 'name', 'require', 'before', 'notify', 'subscribe'] as const;

export interface AttributeSpec {
  readonly change: 'update' | 'restart' | 'replace';
  readonly compare: boolean;
  readonly sensitive: boolean;
  readonly description: string;
}

export interface KindSpec {
  readonly kind: string;
  readonly file: string;
  readonly schema: AnySchemaObject;
  readonly validate: ValidateFunction;
  readonly attributes: ReadonlyMap<string, AttributeSpec>;
  /** What a resource of this kind owns (`x-claim`). */
  readonly claims: readonly ClaimSpec[];
  /** Names of other resources in its attributes (`x-ref`). */
  readonly refs: readonly RefSpec[];
}

export interface SchemaRegistry {
  readonly kinds: ReadonlyMap<string, KindSpec>;
  readonly manifest: ValidateFunction;
}

function readJson(file: string): AnySchemaObject {
  return JSON.parse(readFileSync(file, 'utf8')) as AnySchemaObject;
}

/** ajv, loaded when a schema is compiled at run time (not when the validators were precompiled). */
export function createAjv(options: Options = {}): Ajv {
  const { Ajv: AjvClass } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  // verbose: errors carry the offending value, which the message quotes (format errors).
  const ajv = new AjvClass({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, ...options });
  for (const [name, f] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: f.validate });
  ajv.addKeyword({ keyword: 'x-change', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-compare', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-sensitive', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-example' });
  ajv.addKeyword({ keyword: 'x-claim', schemaType: 'array', metaSchema: CLAIM_META_SCHEMA });
  ajv.addKeyword({ keyword: 'x-ref', schemaType: 'array', metaSchema: REF_META_SCHEMA });
  ajv.addKeyword({ keyword: 'x-view', schemaType: 'object', metaSchema: { type: 'object', additionalProperties: { enum: ['update', 'restart', 'replace'] } } });
  return ajv;
}

/** Kind schema files in spec/kinds, sorted. */
export function kindSchemaFiles(specDir = SPEC_DIR): string[] {
  return readdirSync(path.join(specDir, 'kinds'))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(specDir, 'kinds', f));
}

/** sha256 over the schema files validators are compiled from: tells a stale precompiled module. */
export function specDigest(specDir = SPEC_DIR): string {
  const h = createHash('sha256');
  for (const file of [path.join(specDir, 'common.schema.json'), ...kindSchemaFiles(specDir)]) {
    h.update(path.relative(specDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return h.digest('hex');
}

function attributesOf(schema: AnySchemaObject & { properties?: Record<string, unknown> }): Map<string, AttributeSpec> {
  const attributes = new Map<string, AttributeSpec>();
  for (const [key, prop] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    if ((META_KEYS as readonly string[]).includes(key)) continue;
    attributes.set(key, {
      change: prop['x-change'] === 'update' || prop['x-change'] === 'restart' ? prop['x-change'] : 'replace',
      compare: prop['x-compare'] !== false,
      sensitive: prop['x-sensitive'] === true,
      description: String(prop.description ?? ''),
    });
  }
  // Parts of a kind's view that are no attribute of the manifest (a firewall rule's lines,
  // derived from its ends): `x-view` names them and how a change of one is applied.
  for (const [key, change] of Object.entries((schema['x-view'] ?? {}) as Record<string, string>)) {
    attributes.set(key, { change: change === 'update' || change === 'restart' ? change : 'replace', compare: true, sensitive: false, description: '' });
  }
  return attributes;
}

/** Kind schemas from spec/ with their $id, checked for the file-name rule; ajv gets them added. */
export function readKindSchemas(specDir = SPEC_DIR): { kind: string; file: string; schema: AnySchemaObject }[] {
  return kindSchemaFiles(specDir).map((file) => {
    const schema: AnySchemaObject & { properties?: Record<string, unknown> } = { ...readJson(file), $id: BASE + 'kinds/' + path.basename(file) };
    const kind = (schema.properties?.kind as { const?: string } | undefined)?.const;
    if (!kind) throw new Error(`${file}: a kind schema needs properties.kind.const`);
    if (path.basename(file) !== `${kind}.json`) throw new Error(`${file}: file name must be ${kind}.json`);
    return { kind, file, schema };
  });
}

/** An ajv instance with spec/ added (nothing compiled yet). */
export function createSpecAjv(specDir = SPEC_DIR, options: Options = {}): { ajv: Ajv; kinds: ReturnType<typeof readKindSchemas> } {
  const ajv = createAjv(options);
  ajv.addSchema({ ...readJson(path.join(specDir, 'common.schema.json')), $id: BASE + 'common.schema.json' });
  const kinds = readKindSchemas(specDir);
  for (const k of kinds) ajv.addSchema(k.schema);
  return { ajv, kinds };
}

let cached: SchemaRegistry | undefined;

/**
 * The validators built into dist/ (or the single executable) by `npm run build`, when they
 * were generated from the spec/ of this checkout. The executable has no spec/ beside it
 * and trusts what it was built with.
 */
function usablePrecompiled(specDir: string): typeof precompiled {
  if (!precompiled || specDir !== SPEC_DIR) return undefined;
  if (BUNDLE || !existsSync(specDir)) return precompiled;
  return specDigest(specDir) === precompiled.specDigest ? precompiled : undefined;
}

/** Every kind's schema and validator, once per process: precompiled at build time, else compiled from spec/ on first use per kind. */
export function createSchemaRegistry(specDir = SPEC_DIR): SchemaRegistry {
  if (cached && specDir === SPEC_DIR) return cached;
  const kinds = new Map<string, KindSpec>();
  let registry: SchemaRegistry;
  const pre = usablePrecompiled(specDir);
  if (pre) {
    for (const [kind, k] of Object.entries(pre.kinds)) {
      kinds.set(kind, {
        kind,
        file: path.join(specDir, k.file),
        schema: k.schema,
        attributes: attributesOf(k.schema),
        claims: readClaims(kind, k.schema),
        refs: readRefs(kind, k.schema),
        validate: k.validate,
      });
    }
    registry = { kinds, manifest: pre.manifest };
  } else {
    const { ajv, kinds: list } = createSpecAjv(specDir);
    for (const { kind, file, schema } of list) {
      // Compiled on first use: a run pays only for the kinds its catalogue has.
      let validate: ValidateFunction | undefined;
      kinds.set(kind, {
        kind,
        file,
        schema,
        attributes: attributesOf(schema),
        claims: readClaims(kind, schema),
        refs: readRefs(kind, schema),
        get validate() {
          return (validate ??= ajv.getSchema(schema.$id as string)!);
        },
      });
    }
    registry = { kinds, manifest: ajv.compile(MANIFEST_SCHEMA) };
  }
  if (specDir === SPEC_DIR) cached = registry;
  return registry;
}
