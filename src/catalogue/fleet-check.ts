/**
 * `validate` of a fleet tree checks every source, whether or not a node selects it: a
 * tree whose classification is only globs and rules compiles no node at validate time,
 * and a module, role or data file no named node uses would otherwise first be read on
 * the host that selects it. For one environment:
 *   - every module of the tree (ENV/modules, FLEET/modules): module.yaml, its parameter
 *     references and its literal resource values (modules.ts checkModuleResources), and
 *     the text of its templates/ (render.ts checkTemplateText);
 *   - every module a role, a rule or the default of site.yaml names exists;
 *   - every data file (common, environment, facts, roles, nodes) parses, and names known
 *     modules and their parameters (data.ts checkDataKeys).
 */
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import type { SchemaRegistry } from '../spec/schemas.js';
import { checkDataKeys, isMap, readLayers } from './data.js';
import { checkModuleResources, findModule, loadModule, type Module } from './modules.js';
import { checkTemplateText } from './render.js';
import { filesIn, readText, subdirs } from './treefs.js';
import type { YamlTree } from './yamltree.js';

export async function checkFleetSources(
  root: string,
  envDir: string,
  site: YamlTree,
  searchPath: readonly string[],
  registry: SchemaRegistry,
): Promise<TsconvergeError[]> {
  const errors: TsconvergeError[] = [];
  const available = [...new Set((await Promise.all(searchPath.map(subdirs))).flat())].sort();
  const loaded = new Map<string, Module | null>();
  const load = async (name: string): Promise<Module | null> => {
    if (loaded.has(name)) return loaded.get(name)!;
    const dir = await findModule(name, searchPath);
    const out = dir ? await loadModule(name, dir) : { errors: [] as TsconvergeError[] };
    for (const e of out.errors) errors.push(e);
    loaded.set(name, out.module ?? null);
    return out.module ?? null;
  };

  // Every module of the tree, checked without a node (the shipped modules have their own tests).
  for (const dir of [path.join(envDir, 'modules'), path.join(root, 'modules')]) {
    for (const name of await subdirs(dir)) {
      if (!(await findModule(name, [dir]))) continue;
      const out = await loadModule(name, path.join(dir, name));
      for (const e of out.errors) errors.push(e);
      if (out.module) for (const e of checkModuleResources(out.module, registry)) errors.push(e);
      // Its templates' own text (a node's render would find the same, with its values).
      const templates = path.join(dir, name, 'templates');
      for (const f of await filesIn(templates)) {
        const file = path.join(templates, f);
        try {
          const bad = checkTemplateText(file, await readText(file));
          if (bad) errors.push(bad);
        } catch (err) {
          if (err instanceof TsconvergeError) errors.push(err);
          else throw err;
        }
      }
    }
  }

  // Every module site.yaml names, in a role, a rule or the default.
  const s = site.value as { roles?: Record<string, { modules?: unknown[] }>; nodes?: { modules?: unknown[] }[]; default?: { modules?: unknown[] } };
  const named: [unknown[] | undefined, string][] = [
    ...Object.entries(s.roles ?? {}).map(([r, v]): [unknown[] | undefined, string] => [
      v.modules,
      `/roles/${r.replace(/~/g, '~0').replace(/\//g, '~1')}/modules`,
    ]),
    ...(s.nodes ?? []).map((r, i): [unknown[] | undefined, string] => [r.modules, `/nodes/${i}/modules`]),
    [s.default?.modules, '/default/modules'],
  ];
  for (const [list, at] of named) {
    for (const [i, name] of (list ?? []).entries()) {
      if (typeof name !== 'string' || (await findModule(name, searchPath))) continue;
      errors.push(
        new TsconvergeError('MODULE_NOT_FOUND', `module "${name}" not found. Available modules: ${available.join(', ') || 'none'}`, {
          location: site.locate(`${at}/${i}`),
          terminal: true,
          hint: `modules are searched in ${searchPath.join(', ')}`,
        }),
      );
    }
  }

  // Every data file of the environment, whichever node, role or fact value it is for.
  const yaml = (dir: string): Promise<string[]> => filesIn(dir).then((fs) => fs.filter((f) => f.endsWith('.yaml')).map((f) => path.join(dir, f)));
  const files: [string, string][] = [];
  for (const f of await yaml(path.join(root, 'data'))) if (path.basename(f) === 'common.yaml') files.push(['common', f]);
  for (const f of await yaml(path.join(envDir, 'data'))) if (path.basename(f) === 'common.yaml') files.push(['environment', f]);
  for (const fact of await subdirs(path.join(envDir, 'data', 'facts')))
    for (const f of await yaml(path.join(envDir, 'data', 'facts', fact))) files.push([`facts ${fact}=${path.basename(f, '.yaml')}`, f]);
  for (const f of await yaml(path.join(envDir, 'data', 'roles'))) files.push([`role ${path.basename(f, '.yaml')}`, f]);
  for (const f of await yaml(path.join(envDir, 'data', 'nodes'))) files.push([`node ${path.basename(f, '.yaml')}`, f]);
  const { layers, errors: readErrors } = await readLayers(files);
  for (const e of readErrors) errors.push(e);
  for (const l of layers) for (const k of isMap(l.value) ? Object.keys(l.value) : []) if (available.includes(k)) await load(k);
  const params = (m: string): readonly string[] | null | undefined => {
    const x = loaded.get(m);
    return x ? [...x.parameters.keys()] : x === null && available.includes(m) ? null : undefined;
  };
  for (const e of checkDataKeys(layers, params, available)) errors.push(e);
  return errors;
}
