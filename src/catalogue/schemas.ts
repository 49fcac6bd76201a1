/**
 * The JSON Schemas in spec/ are the single source of truth for every resource kind:
 * ajv validates manifests with them, TypeScript types are generated from them, the
 * README's manifest reference is built from their descriptions, and the engine reads
 * their annotations to know how a change is applied:
 *   x-change:    "update" (converged in place) | "restart" (in place, then restarted) |
 *                "replace" (forces a replace); default replace
 *   x-compare:   false for a parameter that is not compared with the observed state
 *   x-sensitive: true for a value that is never shown
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction, type AnySchemaObject } from 'ajv';
import { FORMATS } from './formats.js';

export const SPEC_DIR = fileURLToPath(new URL('../../spec/', import.meta.url));
const BASE = 'https://tsconverge.dev/spec/';
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
}

export interface SchemaRegistry {
  readonly kinds: ReadonlyMap<string, KindSpec>;
  readonly manifest: ValidateFunction;
}

function readJson(file: string): AnySchemaObject {
  return JSON.parse(readFileSync(file, 'utf8')) as AnySchemaObject;
}

export function createAjv(): Ajv {
  // verbose: errors carry the offending value, which the message quotes (format errors).
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  for (const [name, f] of Object.entries(FORMATS)) ajv.addFormat(name, { type: 'string', validate: f.validate });
  ajv.addKeyword({ keyword: 'x-change', schemaType: 'string' });
  ajv.addKeyword({ keyword: 'x-compare', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-sensitive', schemaType: 'boolean' });
  ajv.addKeyword({ keyword: 'x-example' });
  return ajv;
}

/** Kind schema files in spec/kinds, sorted. */
export function kindSchemaFiles(specDir = SPEC_DIR): string[] {
  return readdirSync(path.join(specDir, 'kinds')).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(specDir, 'kinds', f));
}

let cached: SchemaRegistry | undefined;

/** Load every schema in spec/ once per process; each kind's validator is compiled when first used. */
export function createSchemaRegistry(specDir = SPEC_DIR): SchemaRegistry {
  if (cached && specDir === SPEC_DIR) return cached;
  const ajv = createAjv();
  ajv.addSchema({ ...readJson(path.join(specDir, 'common.schema.json')), $id: BASE + 'common.schema.json' });
  const kinds = new Map<string, KindSpec>();
  for (const file of kindSchemaFiles(specDir)) {
    const schema: AnySchemaObject & { properties?: Record<string, unknown> } = { ...readJson(file), $id: BASE + 'kinds/' + path.basename(file) };
    const kind = (schema.properties?.kind as { const?: string } | undefined)?.const;
    if (!kind) throw new Error(`${file}: a kind schema needs properties.kind.const`);
    if (path.basename(file) !== `${kind}.json`) throw new Error(`${file}: file name must be ${kind}.json`);
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
    ajv.addSchema(schema);
    // Compiled on first use: a run pays only for the kinds its catalogue has.
    let validate: ValidateFunction | undefined;
    kinds.set(kind, { kind, file, schema, attributes, get validate() { return (validate ??= ajv.getSchema(schema.$id as string)!); } });
  }
  const manifest = ajv.compile({
    type: 'object',
    additionalProperties: false,
    required: ['resources'],
    properties: { resources: { type: 'array', items: { type: 'object' } } },
  });
  const registry = { kinds, manifest };
  if (specDir === SPEC_DIR) cached = registry;
  return registry;
}
