/**
 * Hierarchical data: module parameters looked up through layers, lowest first.
 *
 *   module default   modules/NAME/module.yaml, parameters.P.default
 *   common           FLEET/data/common.yaml
 *   environment      FLEET/environments/ENV/data/common.yaml
 *   facts            FLEET/environments/ENV/data/facts/FACT/VALUE.yaml, one directory
 *                    per fact (e.g. facts/os.codename/bookworm.yaml), sorted by name;
 *                    on the catalogue server these may hold no `!secret` (checkFactLayers)
 *   role             FLEET/environments/ENV/data/roles/ROLE.yaml
 *   classification   `params:` of every site.yaml rule that matches the node
 *   node             FLEET/environments/ENV/data/nodes/NODE.yaml
 *
 * A data file is a map of module name -> that module's parameters. Merge rules:
 * maps merge key by key (deep), a higher layer's value wins; a list or scalar
 * replaces the lower value; `!append [..]` appends a list to the lower one;
 * `!replace {..}` replaces a map instead of merging it. Every value set is recorded
 * with its file and line, so `tsconverge explain` can say where a value came from
 * and what it overrode.
 */
import path from 'node:path';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import { filesIn, isFile, subdirs } from './treefs.js';
import { escapeSegment, readYamlTree, SecretRef, splitPointer, type MergeMarker, type YamlTree } from './yamltree.js';

export interface Layer {
  /** e.g. "common", "environment", "facts os.codename=bookworm", "role web", "node web-01". */
  readonly name: string;
  readonly value: unknown;
  readonly locate: (dataPointer: string) => SourceLocation;
  readonly marker: (dataPointer: string) => MergeMarker | undefined;
}

export interface Provenance {
  readonly pointer: string;
  readonly layer: string;
  readonly location: SourceLocation;
  /** The value as written (a secret shows as "!secret NAME"). */
  readonly value: unknown;
  readonly action: 'set' | 'append' | 'replace';
}

export interface MergedData {
  readonly value: Readonly<Record<string, unknown>>;
  /** Every value set, in layer order. */
  readonly history: readonly Provenance[];
  readonly layers: readonly string[];
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof SecretRef);
}

/** A layer from a data file (or a map inside one, at `base`). */
export function fileLayer(name: string, tree: YamlTree, base = ''): Layer {
  let value: unknown = tree.value;
  for (const s of splitPointer(base)) value = isMap(value) ? value[s] : Array.isArray(value) ? value[Number(s)] : undefined;
  return { name, value: value ?? {}, locate: (p) => tree.locate(base + p), marker: (p) => tree.markers.get(base + p) };
}

/** Merge layers in order; see the file comment for the rules. */
export function mergeLayers(layers: readonly Layer[]): MergedData {
  const history: Provenance[] = [];
  const record = (layer: Layer, pointer: string, value: unknown, action: Provenance['action']): void => {
    history.push({ pointer, layer: layer.name, location: layer.locate(pointer), value: value instanceof SecretRef ? value.toJSON() : value, action });
    if (isMap(value) && action !== 'append') for (const [k, v] of Object.entries(value)) record(layer, `${pointer}/${escapeSegment(k)}`, v, 'set');
  };
  const merge = (cur: unknown, next: unknown, pointer: string, layer: Layer): unknown => {
    const marker = layer.marker(pointer);
    if (isMap(next) && marker !== 'replace') {
      // A map merges into the lower map key by key; only its leaves are recorded.
      if (cur !== undefined && !isMap(cur)) record(layer, pointer, next, 'set');
      const base = isMap(cur) ? cur : {};
      const out: Record<string, unknown> = { ...base };
      for (const [k, v] of Object.entries(next)) out[k] = merge(base[k], v, `${pointer}/${escapeSegment(k)}`, layer);
      return out;
    }
    if (Array.isArray(next) && marker === 'append' && Array.isArray(cur)) {
      record(layer, pointer, next, 'append');
      return [...cur, ...next];
    }
    record(layer, pointer, next, marker === 'replace' ? 'replace' : 'set');
    return next;
  };
  let value: Record<string, unknown> = {};
  for (const layer of layers) {
    if (layer.value === null || layer.value === undefined) continue;
    value = merge(value, layer.value, '', layer) as Record<string, unknown>;
  }
  return { value, history, layers: layers.map((l) => l.name) };
}

/** The history that explains the value at `pointer`: entries at it, above it (set whole) and below it. */
export function historyOf(data: MergedData, pointer: string): Provenance[] {
  return data.history.filter((h) => h.pointer === pointer || pointer.startsWith(h.pointer + '/') || h.pointer.startsWith(pointer + '/'));
}

/** Where the current value at `pointer` (or its nearest recorded ancestor) was last set. */
export function locateData(data: MergedData, pointer: string): SourceLocation | undefined {
  let p = pointer;
  for (;;) {
    const hit = [...data.history].reverse().find((h) => h.pointer === p);
    if (hit) return hit.location;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}

/** Top-level keys must be modules; a module's keys must be its parameters. */
/**
 * `params(module)` gives the module's parameter names, undefined for an unknown
 * module, or null for a module that exists but could not be loaded (its own errors
 * are reported; its keys are not checked).
 */
export function checkDataKeys(
  layers: readonly Layer[],
  params: (module: string) => readonly string[] | undefined | null,
  known: readonly string[],
): TsconvergeError[] {
  const errors: TsconvergeError[] = [];
  for (const layer of layers) {
    if (layer.value === null || layer.value === undefined) continue;
    if (!isMap(layer.value)) {
      errors.push(
        new TsconvergeError('DATA_INVALID', `a data layer (${layer.name}) must be a map of module name -> parameters`, {
          location: layer.locate(''),
          terminal: true,
          hint: 'e.g. ntp: { servers: [0.pool.ntp.org] }',
        }),
      );
      continue;
    }
    for (const [mod, v] of Object.entries(layer.value)) {
      const p = `/${escapeSegment(mod)}`;
      const names = params(mod);
      if (names === null) continue;
      if (names === undefined) {
        errors.push(
          new TsconvergeError(
            'DATA_INVALID',
            `unknown data key "${mod}" (layer ${layer.name}): data keys are module names. Known modules: ${known.join(', ')}`,
            { location: layer.locate(p), terminal: true, hint: 'fix the module name, or add the module under modules/' },
          ),
        );
      } else if (v !== null && !isMap(v)) {
        errors.push(
          new TsconvergeError('DATA_INVALID', `data for module ${mod} must be a map of its parameters`, {
            location: layer.locate(p),
            terminal: true,
            hint: `parameters of ${mod}: ${names.join(', ')}`,
          }),
        );
      } else {
        for (const k of Object.keys(v ?? {})) {
          if (!names.includes(k)) {
            errors.push(
              new TsconvergeError(
                'DATA_INVALID',
                `unknown data key "${mod}.${k}" (layer ${layer.name}): module ${mod} has no parameter "${k}". Accepted parameters are: ${names.join(', ') || 'none'}`,
                {
                  location: layer.locate(`${p}/${escapeSegment(k)}`),
                  terminal: true,
                  hint: `see the parameters of module ${mod}`,
                },
              ),
            );
          }
        }
      }
    }
  }
  return errors;
}

function factValue(facts: Facts, dotted: string): string | undefined {
  let cur: unknown = facts;
  for (const k of dotted.split('.')) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  const s = typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : undefined;
  // A fact's value names a file: only plain names, never a path.
  return s !== undefined && /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) ? s : undefined;
}

/** The data files that apply to a node, as [layer name, file] in layer order (only files that exist). */
export async function dataFiles(
  fleetRoot: string,
  envDir: string,
  role: string,
  node: string,
  facts: Facts,
): Promise<{ before: [string, string][]; after: [string, string][] }> {
  const before: [string, string][] = [
    ['common', path.join(fleetRoot, 'data', 'common.yaml')],
    ['environment', path.join(envDir, 'data', 'common.yaml')],
  ];
  for (const fact of await subdirs(path.join(envDir, 'data', 'facts'))) {
    const v = factValue(facts, fact);
    if (v !== undefined) before.push([`facts ${fact}=${v}`, path.join(envDir, 'data', 'facts', fact, `${v}.yaml`)]);
  }
  before.push([`role ${role}`, path.join(envDir, 'data', 'roles', `${role}.yaml`)]);
  const after: [string, string][] = [[`node ${node}`, path.join(envDir, 'data', 'nodes', `${node}.yaml`)]];
  const keep = async (list: [string, string][]): Promise<[string, string][]> =>
    (await Promise.all(list.map(async (e) => ((await isFile(e[1])) ? e : undefined)))).filter((e): e is [string, string] => e !== undefined);
  return { before: await keep(before), after: await keep(after) };
}

/** Every `!secret` in a data value. */
export function secretsIn(v: unknown, out: SecretRef[] = []): SecretRef[] {
  if (v instanceof SecretRef) out.push(v);
  else if (Array.isArray(v)) for (const x of v) secretsIn(x, out);
  else if (isMap(v)) for (const x of Object.values(v)) secretsIn(x, out);
  return out;
}

const FACT_LAYER_HINT =
  "facts are what a node claims: give secrets in a layer its certificate's name selects (data/nodes/NODE.yaml, data/roles/ROLE.yaml with a name:, glob: or regex: rule, data/common.yaml) and keep data/facts/ to values that are not secret";

/**
 * The catalogue server's rule for the layers facts select (data/facts/FACT/VALUE.yaml):
 * none may hold a `!secret`, or a node could claim FACT=VALUE and receive it. Errors name
 * each secret's file and line.
 */
export function factLayerSecrets(layers: readonly Layer[]): TsconvergeError[] {
  return layers
    .filter((l) => l.name.startsWith('facts '))
    .flatMap((l) =>
      secretsIn(l.value).map(
        (ref) =>
          new TsconvergeError(
            'MANIFEST_INVALID',
            `a data file selected by a fact (${l.name}) cannot hold a secret (!secret ${ref.secret}) for nodes served by the catalogue server: a node could claim that fact and receive it`,
            { location: ref.location, terminal: true, hint: FACT_LAYER_HINT },
          ),
      ),
    );
}

/** factLayerSecrets over every facts file of an environment, not only those some node's facts select: the tree is refused at load. */
export async function checkFactLayers(envDir: string): Promise<TsconvergeError[]> {
  const dir = path.join(envDir, 'data', 'facts');
  const files: [string, string][] = [];
  for (const fact of await subdirs(dir)) {
    for (const f of (await filesIn(path.join(dir, fact))).filter((n) => n.endsWith('.yaml')))
      files.push([`facts ${fact}=${f.slice(0, -5)}`, path.join(dir, fact, f)]);
  }
  const { layers, errors } = await readLayers(files);
  return [...errors, ...factLayerSecrets(layers)];
}

/** Read data files into layers; parse errors are collected. */
export async function readLayers(files: readonly [string, string][]): Promise<{ layers: Layer[]; errors: TsconvergeError[] }> {
  const layers: Layer[] = [];
  const errors: TsconvergeError[] = [];
  for (const [name, file] of files) {
    const out = await readYamlTree(file, { secrets: true, markers: true });
    errors.push(...out.errors);
    if (out.tree) layers.push(fileLayer(name, out.tree));
  }
  return { layers, errors };
}
