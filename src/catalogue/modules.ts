/**
 * Modules: modules/<name>/module.yaml declares typed parameters (a JSON Schema per
 * parameter, with a description and, unless it is required, a default), the
 * resources the module brings, and templates/*.hbs for file content.
 *
 * A string value in module.yaml's resources may use {{params.NAME}} (and
 * {{facts.NAME}}): it is compiled by strict, non-escaping handlebars from the module's
 * own text and rendered with the values as data, never compiled. A string that is
 * exactly "{{params.NAME}}" takes the parameter's value whatever its type (a list, a
 * map, a number), and drops the key when the parameter is not set. A parameter is
 * required unless it has a `default` or says `optional: true`. A resource with
 * `when: "{{params.NAME}}"` is left out when that value is false, empty or not set.
 * The rendered
 * resources are validated against spec/ like any manifest, with errors at the line of
 * module.yaml that declared them.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import { createAjv, type SchemaRegistry } from '../spec/schemas.js';
import { describeAjvError, usefulErrors, validateManifestItems, type ManifestResource } from './load.js';
import { renderString } from './render.js';
import { escapeSegment, readYamlTree, type YamlTree } from './yamltree.js';
import { isFile, memoised } from './treefs.js';

export interface ModuleParameter {
  readonly name: string;
  readonly description: string;
  readonly default?: unknown;
  readonly required: boolean;
  readonly location: SourceLocation;
}

export interface Module {
  readonly name: string;
  readonly dir: string;
  readonly file: string;
  readonly description: string;
  readonly parameters: ReadonlyMap<string, ModuleParameter>;
  readonly validate: ValidateFunction;
  readonly tree: YamlTree;
}

/** How a rendered attribute value came about, for `tsconverge explain`. */
export interface ValueOrigin {
  readonly template: string;
  /** Parameter paths the template reads, e.g. ["log_level"] or ["db.port"]. */
  readonly params: readonly string[];
  /** True when the value is one parameter's value, taken whole. */
  readonly whole: boolean;
  readonly location: SourceLocation;
}

const NAME = /^[a-z][a-z0-9_-]*$/;
const PARAM = /^[a-z][a-z0-9_]*$/;
const WHOLE = /^\{\{\s*params((?:\.[A-Za-z0-9_-]+)+)\s*\}\}$/;
const META_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['description', 'resources'],
  properties: {
    $schema: { type: 'string' },
    description: { type: 'string', minLength: 1 },
    parameters: {
      type: 'object',
      propertyNames: { pattern: PARAM.source },
      additionalProperties: {
        type: 'object',
        required: ['description'],
        properties: { description: { type: 'string', minLength: 1 }, optional: { type: 'boolean' } },
      },
    },
    resources: { type: 'array', items: { type: 'object', properties: { when: { type: 'string', pattern: WHOLE.source } } } },
  },
};
const metaValidate = createAjv().compile(META_SCHEMA);

/** The first directory of `searchPath` that holds <name>/module.yaml. */
export async function findModule(name: string, searchPath: readonly string[]): Promise<string | undefined> {
  if (!NAME.test(name)) return undefined;
  for (const dir of searchPath) {
    if (await isFile(path.join(dir, name, 'module.yaml'))) return path.join(dir, name);
  }
  return undefined;
}

function invalid(message: string, location: SourceLocation, hint?: string): TsconvergeError {
  return new TsconvergeError('MODULE_INVALID', message, { location, terminal: true, hint: hint ?? 'see docs/catalogue.md, "Modules"' });
}

const cache = new Map<string, { key: string; result: { module?: Module; errors: TsconvergeError[] } }>();

/**
 * Read and check module.yaml; returns the module or its errors. Loaded modules are
 * kept per process while module.yaml's size and mtime stay the same, so compiling
 * many nodes compiles each module's parameter schema once.
 */
export async function loadModule(name: string, dir: string): Promise<{ module?: Module; errors: TsconvergeError[] }> {
  const file = path.join(dir, 'module.yaml');
  return memoised(file, `module:${name}`, () => loadModuleNow(name, dir, file));
}

async function loadModuleNow(name: string, dir: string, file: string): Promise<{ module?: Module; errors: TsconvergeError[] }> {
  const st = await stat(file).catch(() => undefined);
  const key = st ? `${st.size}:${st.mtimeMs}:${name}` : '';
  const hit = cache.get(file);
  if (hit && key !== '' && hit.key === key) return hit.result;
  const result = await readModule(name, dir, file);
  if (key !== '') cache.set(file, { key, result });
  return result;
}

async function readModule(name: string, dir: string, file: string): Promise<{ module?: Module; errors: TsconvergeError[] }> {
  const { tree, errors } = await readYamlTree(file, { secrets: false, markers: false });
  if (!tree) return { errors };
  if (!metaValidate(tree.value)) {
    return {
      errors: usefulErrors(metaValidate.errors ?? []).map((e) => {
        const d = describeAjvError(e, META_SCHEMA);
        return invalid(`module ${name}: ${d.pointer ? `field ${d.pointer.slice(1)}: ` : ''}${d.message}`, tree.locate(d.pointer));
      }),
    };
  }
  const raw = tree.value as { description: string; parameters?: Record<string, Record<string, unknown>> };
  const parameters = new Map<string, ModuleParameter>();
  const properties: Record<string, unknown> = {};
  for (const [p, schema] of Object.entries(raw.parameters ?? {})) {
    const { default: def, optional, ...rest } = schema;
    properties[p] = rest;
    parameters.set(p, {
      name: p,
      description: String(schema.description),
      required: !('default' in schema) && optional !== true,
      location: tree.locate(`/parameters/${p}`),
      ...('default' in schema ? { default: def } : {}),
    });
  }
  const paramSchema = {
    type: 'object',
    additionalProperties: false,
    properties,
    required: [...parameters.values()].filter((p) => p.required).map((p) => p.name),
  };
  let validate: ValidateFunction;
  try {
    validate = createAjv().compile(paramSchema);
  } catch (err) {
    return { errors: [invalid(`module ${name}: parameters are not a valid JSON Schema: ${(err as Error).message}`, tree.locate('/parameters'))] };
  }
  const partial = createAjv().compile({ ...paramSchema, required: [] });
  for (const p of parameters.values()) {
    if (p.default !== undefined && !partial({ [p.name]: p.default })) {
      const msg = usefulErrors(partial.errors ?? [])
        .map((e) => `${e.instancePath.slice(1)} ${e.message}`)
        .join('; ');
      errors.push(
        invalid(`module ${name}: the default of parameter ${p.name} does not match its schema: ${msg}`, tree.locate(`/parameters/${p.name}/default`)),
      );
    }
  }
  if (errors.length > 0) return { errors };
  return { module: { name, dir, file, description: raw.description, parameters, validate, tree }, errors };
}

/** Parameter name -> default, for the parameters that have one. */
export function defaultsOf(parameters: ReadonlyMap<string, ModuleParameter>): Record<string, unknown> {
  return Object.fromEntries([...parameters.values()].filter((p) => p.default !== undefined).map((p) => [p.name, p.default]));
}

/** Check resolved parameters against the module's schema; errors point at `locate(pointer)`. */
export function checkParameters(mod: Module, params: Readonly<Record<string, unknown>>, locate: (pointer: string) => SourceLocation): TsconvergeError[] {
  if (mod.validate(params)) return [];
  return usefulErrors(mod.validate.errors ?? []).map((e) => {
    const d = describeAjvError(e, { properties: Object.fromEntries(mod.parameters) });
    const field = d.pointer === '' ? '' : `${d.pointer.slice(1).replace(/\//g, '.')}: `;
    const hint =
      e.keyword === 'required'
        ? `set ${mod.name}.${String((e.params as { missingProperty: string }).missingProperty)} in a data file (data/common.yaml, data/roles/ROLE.yaml, data/nodes/NODE.yaml)`
        : `see the parameters of module ${mod.name} in ${mod.file}`;
    return new TsconvergeError('PARAMETER_INVALID', `module ${mod.name}: parameter ${field}${d.message}`, {
      location: locate(d.pointer),
      hint,
      terminal: true,
    });
  });
}

function lookup(params: unknown, dotted: string): unknown {
  let cur = params;
  for (const k of dotted.split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const DROP = Symbol('drop');

/** `tree.locate(pointer)`, remembered per tree: a module's tree is parsed once and rendered for many nodes. */
const locations = new WeakMap<YamlTree, Map<string, SourceLocation>>();
function locateIn(tree: YamlTree, pointer: string): SourceLocation {
  let m = locations.get(tree);
  if (!m) {
    m = new Map();
    locations.set(tree, m);
  }
  let loc = m.get(pointer);
  if (!loc) {
    loc = tree.locate(pointer);
    m.set(pointer, loc);
  }
  return loc;
}

/** Render the module's resources with resolved parameters; validate them against spec/. */
export function renderModule(
  mod: Module,
  params: Readonly<Record<string, unknown>>,
  facts: Facts,
  registry: SchemaRegistry,
): {
  resources: ManifestResource[];
  origins: Map<string, Map<string, ValueOrigin>>;
  errors: TsconvergeError[];
} {
  const errors: TsconvergeError[] = [];
  const data = { params, facts };
  const items = (mod.tree.value as { resources: unknown[] }).resources;
  const byIndex: Map<string, ValueOrigin>[] = [];
  const kept = items
    .map((item, i) => [item, i] as const)
    .filter(([item]) => {
      const when = (item as Record<string, unknown>).when;
      if (when === undefined) return true;
      const w = typeof when === 'string' ? WHOLE.exec(when) : null;
      const v = w ? lookup(params, w[1]!) : when;
      return !(v === undefined || v === null || v === false || v === '' || (Array.isArray(v) && v.length === 0));
    });
  const rendered = kept.map(([rawItem, i]) => {
    const { when: _when, ...item } = rawItem as Record<string, unknown>;
    const origins = new Map<string, ValueOrigin>();
    byIndex.push(origins);
    const walk = (v: unknown, src: string, dst: string): unknown => {
      if (typeof v === 'string' && v.includes('{{')) {
        const location = locateIn(mod.tree, src);
        const refs = [...v.matchAll(/\bparams((?:\.[A-Za-z0-9_-]+)+)/g)].map((m) => m[1]!.slice(1));
        const whole = WHOLE.exec(v);
        origins.set(dst, { template: v, params: refs, whole: whole !== null, location });
        if (whole) {
          const value = lookup(params, whole[1]!);
          return value === undefined ? DROP : structuredClone(value);
        }
        try {
          return renderString(v, data);
        } catch (err) {
          errors.push(
            new TsconvergeError('TEMPLATE_ERROR', `module ${mod.name}: ${(err as Error).message.split('\n')[0]}`, {
              location,
              cause: err,
              terminal: true,
              hint: "module values see {{params.NAME}} (the module's parameters) and {{facts.NAME}} (host facts)",
            }),
          );
          return v;
        }
      }
      if (Array.isArray(v)) {
        const out: unknown[] = [];
        v.forEach((x, j) => {
          const r = walk(x, `${src}/${j}`, `${dst}/${out.length}`);
          if (r !== DROP) out.push(r);
        });
        return out;
      }
      if (v && typeof v === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          const r = walk(x, `${src}/${escapeSegment(k)}`, `${dst}/${escapeSegment(k)}`);
          if (r !== DROP) out[k] = r;
        }
        return out;
      }
      return v;
    };
    return walk(item, `/resources/${i}`, '') as Record<string, unknown>;
  });
  const indexOf = kept.map(([, i]) => i);
  if (errors.length > 0) return { resources: [], origins: new Map(), errors };
  const out = validateManifestItems(
    rendered,
    mod.file,
    (p) => mod.tree.locate(p.replace(/^\/resources\/(\d+)/, (_m, n: string) => `/resources/${indexOf[Number(n)]}`)),
    registry,
  );
  const templates = path.join(mod.dir, 'templates') + path.sep;
  for (const r of out.resources) {
    const t = r.body.template;
    if (r.kind === 'file' && typeof t === 'string' && !path.resolve(mod.dir, t).startsWith(templates)) {
      out.errors.push(
        invalid(
          `module ${mod.name}: template ${t} is outside the module's templates/ directory`,
          r.locate('/template'),
          'module templates live in modules/NAME/templates/ and are named relative to the module, e.g. templates/app.conf.hbs',
        ),
      );
    }
  }
  const origins = new Map<string, Map<string, ValueOrigin>>();
  rendered.forEach((item, i) => origins.set(`${String(item.kind)}[${String(item.name)}]`, byIndex[i]!));
  return { resources: out.resources, origins, errors: out.errors };
}

/**
 * Check a module without a node (`validate` of a fleet tree checks every module, selected
 * or not): its module.yaml is loaded (loadModule), every `{{params.X}}` names a declared
 * parameter, and every literal value of its resources is validated against spec/ as a
 * rendered one would be. A value that is a template is left to the nodes that render it.
 */
export function checkModuleResources(mod: Module, registry: SchemaRegistry): TsconvergeError[] {
  const errors: TsconvergeError[] = [];
  const items = (mod.tree.value as { resources: unknown[] }).resources;
  const templated: string[] = [];
  const plain = items.map((rawItem, i) => {
    const { when, ...item } = rawItem as Record<string, unknown>;
    const walk = (v: unknown, src: string): unknown => {
      if (typeof v === 'string' && v.includes('{{')) {
        templated.push(src);
        for (const m of v.matchAll(/\bparams((?:\.[A-Za-z0-9_-]+)+)/g)) {
          const name = m[1]!.slice(1).split('.')[0]!;
          if (!mod.parameters.has(name)) {
            errors.push(
              new TsconvergeError(
                'PARAMETER_INVALID',
                `module ${mod.name}: {{params.${m[1]!.slice(1)}}} names no parameter of the module. Declared parameters are: ${[...mod.parameters.keys()].join(', ') || 'none'}`,
                {
                  location: { ...locateIn(mod.tree, src), pointer: src },
                  terminal: true,
                  hint: `declare parameter ${name} under parameters: in ${mod.file}, or fix the name`,
                },
              ),
            );
          }
        }
        return v;
      }
      if (Array.isArray(v)) return v.map((x, j) => walk(x, `${src}/${j}`));
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, `${src}/${escapeSegment(k)}`)]));
      return v;
    };
    if (typeof when === 'string') walk(when, `/resources/${i}/when`);
    return walk(item, `/resources/${i}`) as Record<string, unknown>;
  });
  // An error at a template or inside one is left to the render; one at a resource that holds a
  // template is too (a oneOf branch that the rendered value decides), unless a field is missing.
  const isTemplated = (e: TsconvergeError): boolean => {
    const p = e.location?.pointer;
    if (p === undefined) return false;
    return templated.some((t) => p === t || p.startsWith(`${t}/`) || (t.startsWith(`${p}/`) && !e.message.includes('missing required field')));
  };
  const out = validateManifestItems(plain, mod.file, (p) => mod.tree.locate(p), registry);
  for (const e of out.errors) if (!isTemplated(e)) errors.push(e);
  return errors;
}
