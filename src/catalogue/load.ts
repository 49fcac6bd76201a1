/**
 * Load manifests: read YAML files, keep line and column for every node, validate each
 * resource against its kind's schema, and collect every error before giving up, so a
 * user fixes a manifest in one pass. Nothing here touches the world.
 */
import { stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorObject } from 'ajv';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import { createSchemaRegistry, META_KEYS, type SchemaRegistry } from '../spec/schemas.js';
import { parseYamlTree, readYamlTree, type YamlTree } from './yamltree.js';
import { formatAccepts } from '../spec/formats.js';
import { limitError, parseLimits } from './limits.js';

/** A resource as written in a manifest, validated but not yet resolved. */
export interface ManifestResource {
  readonly kind: string;
  readonly name: string;
  readonly body: Readonly<Record<string, unknown>>;
  readonly source: SourceLocation;
  /** Locates a JSON pointer inside this resource (relative to the resource). */
  readonly locate: (pointer: string) => SourceLocation;
  readonly file: string;
}

/** All manifest files under a path: the file itself, or *.yaml / *.yml below a directory, sorted. */
export async function listManifestFiles(target: string): Promise<string[]> {
  let st;
  try {
    st = await stat(target);
  } catch {
    throw new TsconvergeError('MANIFEST_NOT_FOUND', `no manifest at ${target}`, {
      hint: 'pass a manifest file or a directory of *.yaml files, e.g. tsconverge apply examples/quickstart',
      terminal: true,
    });
  }
  if (st.isFile()) return [target];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'templates' && !entry.name.startsWith('.') && entry.name !== 'node_modules') await walk(p);
      } else if (/\.ya?ml$/.test(entry.name)) out.push(p);
    }
  };
  await walk(target);
  if (out.length === 0) {
    throw new TsconvergeError('MANIFEST_NOT_FOUND', `no *.yaml or *.yml files under ${target}`, { terminal: true });
  }
  return out;
}

export function describeAjvError(e: ErrorObject, schema: Record<string, unknown>): { pointer: string; message: string } {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const accepted = Object.keys((schema.properties ?? {}) as object).filter((k) => k !== 'kind');
      return {
        pointer: `${e.instancePath}/${String(params.additionalProperty)}`,
        message: `unknown field "${String(params.additionalProperty)}"${e.instancePath === '' ? `. Accepted fields are: ${accepted.join(', ')}` : ''}`,
      };
    }
    case 'enum':
      return { pointer: e.instancePath, message: `must be one of: ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'required':
      return { pointer: e.instancePath, message: `missing required field "${String(params.missingProperty)}"` };
    case 'format': {
      const shown = typeof e.data === 'string' ? JSON.stringify(e.data.length > 80 ? `${e.data.slice(0, 77)}...` : e.data) : 'value';
      if (e.schemaPath.includes('/propertyNames/') && typeof e.data === 'string') {
        return {
          pointer: `${e.instancePath}/${e.data.replace(/~/g, '~0').replace(/\//g, '~1')}`,
          message: `key ${shown} is not valid here; accepted: ${formatAccepts(String(params.format))}`,
        };
      }
      return { pointer: e.instancePath, message: `${shown} is not valid here; accepted: ${formatAccepts(String(params.format))}` };
    }
    case 'not':
      if (e.schemaPath.endsWith('/not') && JSON.stringify((e.schema as { required?: unknown }).required) === JSON.stringify(['content', 'template'])) {
        return { pointer: `${e.instancePath}/template`, message: 'content and template are both set: give one (template renders the content)' };
      }
      {
        // two fields that exclude each other: the schema's `not` names them (and may say why in its description)
        const not = e.schema as { required?: unknown; description?: unknown };
        const req = Array.isArray(not.required) ? (not.required as string[]) : [];
        if (e.schemaPath.endsWith('/not') && req.length === 2) {
          return {
            pointer: `${e.instancePath}/${req[0]}`,
            message: typeof not.description === 'string' ? not.description : `${req[0]} and ${req[1]} are both set: give one`,
          };
        }
      }
      return { pointer: e.instancePath, message: e.message ?? e.keyword };
    default:
      return { pointer: e.instancePath, message: e.message ?? e.keyword };
  }
}

/** Drop the noise ajv produces for oneOf/anyOf branches when a more specific error exists. */
export function usefulErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  // A oneOf branch of the wrong type ("must be object" beside a string's format error) is noise;
  // a propertyNames error repeats its inner error, which says what is accepted.
  const explained = (e: ErrorObject): boolean =>
    errors.some(
      (o) =>
        o !== e &&
        o.keyword !== 'type' &&
        o.keyword !== 'oneOf' &&
        o.keyword !== 'anyOf' &&
        o.keyword !== 'if' &&
        (o.instancePath === e.instancePath || o.instancePath.startsWith(`${e.instancePath}/`)),
    );
  const specific = errors.filter(
    (e) =>
      e.keyword !== 'oneOf' &&
      e.keyword !== 'anyOf' &&
      e.keyword !== 'if' &&
      e.keyword !== 'propertyNames' &&
      !(e.keyword === 'type' && e.schemaPath.includes('/oneOf/') && explained(e)),
  );
  const list = specific.length > 0 ? specific : [...errors];
  const seen = new Set<string>();
  return list.filter((e) => {
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Parse and validate one manifest file. Returns its resources and every error found. */
export async function loadManifestFile(
  file: string,
  registry: SchemaRegistry = createSchemaRegistry(),
): Promise<{ resources: ManifestResource[]; errors: TsconvergeError[] }> {
  // Bounded: size, nesting and alias expansion are limited (limits.ts); no tags in a plain manifest.
  return validateManifestTree(file, await readYamlTree(file, { secrets: false, markers: false }), registry);
}

/** Parse and validate manifest text (what loadManifestFile does after reading; the fuzzer's entry point). */
export function parseManifestText(
  file: string,
  text: string,
  registry: SchemaRegistry = createSchemaRegistry(),
): { resources: ManifestResource[]; errors: TsconvergeError[] } {
  return validateManifestTree(file, parseYamlTree(file, text, { secrets: false, markers: false }), registry);
}

function validateManifestTree(
  file: string,
  { tree, errors }: { tree?: YamlTree; errors: TsconvergeError[] },
  registry: SchemaRegistry,
): { resources: ManifestResource[]; errors: TsconvergeError[] } {
  if (!tree) return { resources: [], errors };
  const { locate, value: data } = tree;
  // An empty document (zero bytes, only comments) is almost always a mistake: a truncated
  // file, a wrong path. An intentionally empty catalogue says so: `resources: []`.
  if (data === null || data === undefined) {
    errors.push(
      new TsconvergeError('MANIFEST_EMPTY', 'the manifest is empty (no document): an empty catalogue is refused unless it says `resources: []`', {
        location: { file, line: 1, column: 1, pointer: '' },
        hint: 'write `resources: []` for a catalogue with no resources on purpose',
        terminal: true,
      }),
    );
    return { resources: [], errors };
  }
  if (!registry.manifest(data)) {
    for (const e of usefulErrors(registry.manifest.errors ?? [])) {
      const d = describeAjvError(e, { properties: { resources: {} } });
      errors.push(
        new TsconvergeError('MANIFEST_INVALID', `${d.message}; a manifest is a mapping with a "resources" list`, {
          location: locate(d.pointer),
          terminal: true,
        }),
      );
    }
    return { resources: [], errors };
  }
  const items = (data as { resources: Record<string, unknown>[] }).resources;
  const limits = parseLimits();
  if (items.length > limits.maxResources) {
    errors.push(
      limitError(
        `${items.length} resources in one file, more than the limit`,
        'maxResources',
        limits.maxResources,
        locate(`/resources/${limits.maxResources}`),
      ),
    );
    return { resources: [], errors };
  }
  const out = validateManifestItems(items, file, locate, registry);
  return { resources: out.resources, errors: [...errors, ...out.errors] };
}

/**
 * Validate resource items (already parsed, e.g. rendered from a module) against their
 * kinds' schemas. `locate` maps a pointer in the document that holds `items` at
 * `base` (default /resources) to file, line and column.
 */
export function validateManifestItems(
  items: readonly Record<string, unknown>[],
  file: string,
  locate: (pointer: string) => SourceLocation,
  registry: SchemaRegistry = createSchemaRegistry(),
  base = '/resources',
): { resources: ManifestResource[]; errors: TsconvergeError[] } {
  const errors: TsconvergeError[] = [];
  const resources: ManifestResource[] = [];
  items.forEach((item, i) => {
    const at = `${base}/${i}`;
    const kind = item.kind;
    const spec = typeof kind === 'string' ? registry.kinds.get(kind) : undefined;
    if (!spec) {
      const accepted = [...registry.kinds.keys()].join(', ');
      errors.push(
        new TsconvergeError(
          'UNKNOWN_KIND',
          kind === undefined ? 'missing field "kind"' : `unknown kind ${JSON.stringify(kind)}. Accepted kinds are: ${accepted}`,
          {
            location: locate(kind === undefined ? at : `${at}/kind`),
            terminal: true,
          },
        ),
      );
      return;
    }
    const declaredName = item.name;
    if (!spec.validate(item)) {
      for (const e of usefulErrors(spec.validate.errors ?? [])) {
        const d = describeAjvError(e, spec.schema);
        const resource = typeof declaredName === 'string' ? `${kind}[${declaredName}]` : undefined;
        errors.push(
          new TsconvergeError('MANIFEST_INVALID', `${d.pointer === '' ? '' : `field ${d.pointer.slice(1)}: `}${d.message}`, {
            resource,
            location: locate(at + d.pointer),
            hint: `see the ${kind} reference in docs/kinds.md (schema: spec/kinds/${kind}.json)`,
            terminal: true,
          }),
        );
      }
      return;
    }
    resources.push({
      kind: spec.kind,
      name: item.name as string,
      body: item,
      source: locate(at),
      locate: (p: string) => locate(at + p),
      file,
    });
  });
  return { resources, errors };
}

export function isMetaKey(key: string): boolean {
  return (META_KEYS as readonly string[]).includes(key);
}
