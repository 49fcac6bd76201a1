/**
 * A fleet tree: the sources a node's catalogue is compiled from.
 *
 *   FLEET/
 *     data/common.yaml                      data shared by every environment
 *     modules/NAME/                         modules shared by every environment
 *     environments/ENV/
 *       manifests/site.yaml                 roles and node classification (classify.ts)
 *       modules/NAME/                       modules of this environment (searched first)
 *       data/...                            data layers (data.ts)
 *
 * Modules are searched in ENV/modules, FLEET/modules, then the modules shipped with
 * tsconverge. compileFleet classifies the node, merges its data, resolves secrets,
 * renders its modules and compiles the result into the same Catalogue a plain
 * manifest gives: validated against spec/, deterministic, content-hashed.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assetDir } from '../core/assets.js';
import { ManifestErrors, TsconvergeError, type SourceLocation } from '../core/errors.js';
import { MASK } from '../core/redact.js';
import type { Facts } from '../facts/facts.js';
import { createSchemaRegistry, type SchemaRegistry } from '../spec/schemas.js';
import { compileResources, loadCatalogue } from './compile.js';
import type { Catalogue } from '../core/types.js';
import type { ManifestResource } from './load.js';
import { checkSite, classifyNode } from './classify.js';
import {
  checkDataKeys,
  checkFactLayers,
  dataFiles,
  factLayerSecrets,
  fileLayer,
  isMap,
  locateData,
  mergeLayers,
  readLayers,
  type Layer,
  type MergedData,
} from './data.js';
import { checkParameters, defaultsOf, findModule, loadModule, renderModule, type Module, type ValueOrigin } from './modules.js';
import { createSecretStore, type SecretStore, type SecretStoreOptions } from './secrets.js';
import { readYamlTree, SecretRef, splitPointer, escapeSegment } from './yamltree.js';
import { isDir, subdirs } from './treefs.js';
import { loadRolloutPolicy } from './rollout.js';
import { checkFleetSources } from './fleet-check.js';

export const BUILTIN_MODULES = fileURLToPath(new URL('../../modules/', import.meta.url));

export interface FleetOptions {
  /** The node to compile for; defaults to the hostname fact. */
  readonly node?: string;
  /** The environment; defaults to TSCONVERGE_ENVIRONMENT, else the only one. */
  readonly environment?: string;
  readonly facts: Facts;
  readonly secrets?: SecretStoreOptions;
  readonly registry?: SchemaRegistry;
  /**
   * The node name is a trusted identity and facts only a claim (the catalogue server): no
   * site.yaml rule matching on facts gives roles, modules or secrets (classify.ts
   * SiteCheckOptions), no data file facts select holds a secret (data.ts checkFactLayers).
   */
  readonly trustedNamesOnly?: boolean;
}

export interface FleetCatalogue {
  readonly root: string;
  readonly node: string;
  readonly environment: string;
  readonly role: string;
  readonly modules: readonly string[];
  readonly catalogue: Catalogue;
  readonly data: MergedData;
  /** Resource id -> the module that declared it. */
  readonly moduleOf: ReadonlyMap<string, string>;
  /** Resource id -> attribute pointer -> how the value was rendered. */
  readonly origins: ReadonlyMap<string, ReadonlyMap<string, ValueOrigin>>;
}

/** A fleet tree has an environments/ directory. */
export async function isFleetTree(target: string): Promise<boolean> {
  return isDir(path.join(target, 'environments'));
}

export async function resolveEnvironment(
  root: string,
  requested: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ name: string; dir: string }> {
  const names = await subdirs(path.join(root, 'environments'));
  const want = requested ?? env.TSCONVERGE_ENVIRONMENT;
  if (want !== undefined) {
    if (!names.includes(want)) {
      throw new TsconvergeError('ENVIRONMENT_NOT_FOUND', `unknown environment "${want}". Environments in ${root}: ${names.join(', ') || 'none'}`, {
        location: { file: path.join(root, 'environments') },
        terminal: true,
        hint: 'pass --environment with one of them',
      });
    }
    return { name: want, dir: path.join(root, 'environments', want) };
  }
  if (names.length === 1) return { name: names[0]!, dir: path.join(root, 'environments', names[0]!) };
  throw new TsconvergeError('ENVIRONMENT_NOT_FOUND', `${root} has ${names.length} environments (${names.join(', ') || 'none'}); choose one`, {
    location: { file: path.join(root, 'environments') },
    terminal: true,
    hint: 'pass --environment ENV or set TSCONVERGE_ENVIRONMENT',
  });
}

async function resolveSecrets(v: unknown, store: SecretStore, errors: TsconvergeError[]): Promise<unknown> {
  if (v instanceof SecretRef) {
    try {
      return await store.resolve(v);
    } catch (err) {
      errors.push(err as TsconvergeError);
      return '';
    }
  }
  if (Array.isArray(v)) return Promise.all(v.map((x) => resolveSecrets(x, store, errors)));
  if (isMap(v)) return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await resolveSecrets(x, store, errors)])));
  return v;
}

function defaultsLayer(mods: readonly Module[]): Layer {
  const byName = new Map(mods.map((m) => [m.name, m]));
  return {
    name: 'module default',
    value: Object.fromEntries(mods.map((m) => [m.name, defaultsOf(m.parameters)])),
    locate: (p) => {
      const [mod, param, ...rest] = splitPointer(p);
      const m = mod === undefined ? undefined : byName.get(mod);
      if (!m) return { file: 'module defaults' };
      return m.tree.locate(
        param === undefined ? '/parameters' : `/parameters/${escapeSegment(param)}/default${rest.map((s) => '/' + escapeSegment(s)).join('')}`,
      );
    },
    marker: () => undefined,
  };
}

/** Compile the catalogue of one node of a fleet tree. Throws ManifestErrors (or one TsconvergeError) on bad input. */
export async function compileFleet(target: string, opts: FleetOptions): Promise<FleetCatalogue> {
  const root = path.resolve(target);
  const registry = opts.registry ?? createSchemaRegistry();
  const env = await resolveEnvironment(root, opts.environment);
  const node = opts.node ?? opts.facts.hostname;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(node)) {
    throw new TsconvergeError('INVALID_VALUE', `invalid node name ${JSON.stringify(node)}: letters, digits, '.', '_' and '-'`, {
      terminal: true,
      hint: 'pass --node NAME',
    });
  }
  const siteFile = path.join(env.dir, 'manifests', 'site.yaml');
  const site = await readYamlTree(siteFile, { secrets: true, markers: true });
  if (!site.tree) throw new ManifestErrors(site.errors);
  const siteErrors = checkSite(site.tree, { trustedNamesOnly: opts.trustedNamesOnly });
  if (siteErrors.length) throw new ManifestErrors(siteErrors);
  const cls = classifyNode(site.tree, node, opts.facts);

  const searchPath = [path.join(env.dir, 'modules'), path.join(root, 'modules'), assetDir('modules', BUILTIN_MODULES)];
  const available = [...new Set((await Promise.all(searchPath.map(subdirs))).flat())].sort();
  const errors: TsconvergeError[] = [];
  const loaded = new Map<string, Module | null>();
  const load = async (name: string, at?: SourceLocation): Promise<Module | undefined> => {
    if (loaded.has(name)) return loaded.get(name) ?? undefined;
    const dir = await findModule(name, searchPath);
    if (!dir) {
      loaded.set(name, null);
      if (at)
        errors.push(
          new TsconvergeError('MODULE_NOT_FOUND', `module "${name}" not found. Available modules: ${available.join(', ') || 'none'}`, {
            location: at,
            terminal: true,
            hint: `modules are searched in ${searchPath.join(', ')}`,
          }),
        );
      return undefined;
    }
    const out = await loadModule(name, dir);
    errors.push(...out.errors);
    loaded.set(name, out.module ?? null);
    return out.module;
  };
  const mods: Module[] = [];
  for (const use of cls.modules) {
    const m = await load(use.name, use.location);
    if (m) mods.push(m);
  }

  const files = await dataFiles(root, env.dir, cls.role, node, opts.facts);
  const before = await readLayers(files.before);
  const after = await readLayers(files.after);
  errors.push(...before.errors, ...after.errors);
  if (opts.trustedNamesOnly) errors.push(...factLayerSecrets(before.layers));
  const ruleLayers = cls.params.map((p) => fileLayer(`classification nodes[${p.split('/')[2]}]`, site.tree!, p));
  const layers = [...before.layers, ...ruleLayers, ...after.layers];
  for (const l of layers) for (const k of isMap(l.value) ? Object.keys(l.value) : []) if (available.includes(k)) await load(k);
  errors.push(
    ...checkDataKeys(
      layers,
      (m) => {
        const x = loaded.get(m);
        return x ? [...x.parameters.keys()] : x === null && available.includes(m) ? null : undefined;
      },
      available,
    ),
  );
  if (errors.length) throw new ManifestErrors(errors);

  const data = mergeLayers([defaultsLayer(mods), ...layers]);
  const store = createSecretStore(opts.secrets);
  const resources: ManifestResource[] = [];
  const moduleOf = new Map<string, string>();
  const origins = new Map<string, ReadonlyMap<string, ValueOrigin>>();
  for (const mod of mods) {
    const use = cls.modules.find((u) => u.name === mod.name)!;
    const raw = data.value[mod.name];
    const before = errors.length;
    const params = (await resolveSecrets(isMap(raw) ? raw : {}, store, errors)) as Record<string, unknown>;
    if (errors.length > before) continue;
    const bad = checkParameters(mod, params, (p) => (p === '' ? use.location : (locateData(data, `/${escapeSegment(mod.name)}${p}`) ?? use.location)));
    if (bad.length) {
      errors.push(...bad);
      continue;
    }
    const out = renderModule(mod, params, opts.facts, registry);
    errors.push(...out.errors);
    for (const r of out.resources) resources.push(r);
    for (const [id, o] of out.origins) {
      moduleOf.set(id, mod.name);
      origins.set(id, o);
    }
  }
  if (errors.length) {
    // As for a manifest (compile.ts loadCatalogue): the resources that rendered are compiled anyway, so
    // their template errors come in the same pass as the parameter and schema errors.
    try {
      await compileResources(resources, { facts: opts.facts, registry, sensitiveValues: store.values(), partial: true });
    } catch (err) {
      if (!(err instanceof ManifestErrors)) throw err;
      for (const e of err.errors) errors.push(e);
    }
    throw new ManifestErrors(errors);
  }
  const catalogue = await compileResources(resources, { facts: opts.facts, registry, sensitiveValues: store.values() });
  return { root, node, environment: env.name, role: cls.role, modules: mods.map((m) => m.name), catalogue, data, moduleOf, origins };
}

/** A manifest file or directory, or a fleet tree (compiled for opts.node or the hostname fact). */
export async function loadAnyCatalogue(target: string, opts: FleetOptions): Promise<Catalogue> {
  if (await isFleetTree(target)) return (await compileFleet(target, opts)).catalogue;
  return loadCatalogue(target, { facts: opts.facts, registry: opts.registry });
}

/** A copy of `attrs` with every sensitive value replaced by "(sensitive)". */
export function maskAttrs(attrs: Readonly<Record<string, unknown>>, sensitive: readonly string[]): Record<string, unknown> {
  const out = structuredClone(attrs) as Record<string, unknown>;
  for (const s of sensitive) {
    const segs = s.startsWith('/') ? splitPointer(s) : [s];
    let cur: unknown = out;
    segs.forEach((k, i) => {
      if (!isMap(cur) || !(k in cur)) {
        cur = undefined;
        return;
      }
      if (i === segs.length - 1) cur[k] = MASK;
      else cur = cur[k];
    });
  }
  return out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isMap(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k])]),
    );
  return v;
}

/** The catalogue as deterministic JSON (same inputs, same bytes); secrets masked, paths relative to the fleet. */
export function serializeCatalogue(fc: FleetCatalogue): string {
  const rel = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.relative(fc.root, f).split(path.sep).join('/'));
  const doc = {
    formatVersion: 1,
    version: fc.catalogue.version,
    node: fc.node,
    environment: fc.environment,
    role: fc.role,
    modules: fc.modules,
    resources: [...fc.catalogue.resources]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((r) => ({
        id: r.id,
        kind: r.kind,
        name: r.name,
        module: fc.moduleOf.get(r.id),
        attrs: maskAttrs(r.attrs, r.sensitive),
        relations: r.relations,
        sensitive: [...r.sensitive].sort(),
        source: { file: rel(r.source?.file), line: r.source?.line, column: r.source?.column },
      })),
  };
  return JSON.stringify(sortKeys(doc), null, 2) + '\n';
}

/**
 * Validate a whole fleet tree without secrets (placeholders stand in for them): for
 * every environment, compile every node its site.yaml names exactly or its
 * data/nodes/ has a file for. Returns the nodes compiled; throws every error found.
 */
export async function validateFleet(
  target: string,
  facts: Facts,
  registry?: SchemaRegistry,
  opts: { trustedNamesOnly?: boolean } = {},
): Promise<{ environment: string; node: string; resources: number }[]> {
  const root = path.resolve(target);
  const out: { environment: string; node: string; resources: number }[] = [];
  const errors: TsconvergeError[] = [];
  // rollout.yaml (rollout.ts): checked with the tree, so a bad policy is refused like a bad manifest.
  try {
    await loadRolloutPolicy(root);
  } catch (err) {
    if (err instanceof ManifestErrors) errors.push(...err.errors);
    else if (err instanceof TsconvergeError) errors.push(err);
    else throw err;
  }
  for (const environment of await subdirs(path.join(root, 'environments'))) {
    const envDir = path.join(root, 'environments', environment);
    const site = await readYamlTree(path.join(envDir, 'manifests', 'site.yaml'), { secrets: true, markers: true });
    if (!site.tree) {
      errors.push(...site.errors);
      continue;
    }
    const siteErrors = checkSite(site.tree, opts);
    if (opts.trustedNamesOnly) siteErrors.push(...(await checkFactLayers(envDir)));
    if (siteErrors.length) {
      errors.push(...siteErrors);
      continue;
    }
    const rules = (site.tree.value as { nodes: { name?: string }[] }).nodes.flatMap((r) => (r.name ? [r.name] : []));
    let files: string[] = [];
    try {
      files = (await readdir(path.join(envDir, 'data', 'nodes'))).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5));
    } catch {
      /* none */
    }
    const searchPath = [path.join(envDir, 'modules'), path.join(root, 'modules'), assetDir('modules', BUILTIN_MODULES)];
    for (const e of await checkFleetSources(root, envDir, site.tree, searchPath, registry ?? createSchemaRegistry())) errors.push(e);
    for (const node of [...new Set([...rules, ...files])].sort()) {
      try {
        const fc = await compileFleet(root, {
          node,
          environment,
          facts: { ...facts, hostname: node, fqdn: node },
          secrets: { placeholders: true },
          registry,
          trustedNamesOnly: opts.trustedNamesOnly,
        });
        out.push({ environment, node, resources: fc.catalogue.resources.length });
      } catch (err) {
        if (err instanceof ManifestErrors) errors.push(...err.errors);
        else if (err instanceof TsconvergeError) errors.push(err);
        else throw err;
      }
    }
  }
  const seen = new Set<string>();
  if (errors.length) throw new ManifestErrors(errors.filter((e) => !seen.has(e.format()) && seen.add(e.format())));
  return out;
}
