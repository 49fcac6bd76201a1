/**
 * Load what a PATH names: a fleet tree (a directory with environments/) is compiled for
 * one node, anything else is loaded as manifests. The fleet compiler (modules,
 * classification, data layers, secrets) is imported only for a fleet tree.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { loadCatalogue } from './compile.js';
import type { Catalogue } from '../core/types.js';
import type { FleetOptions } from './fleet.js';
import { fullSpeed } from '../core/tiering.js';

export async function isFleetTree(target: string): Promise<boolean> {
  try {
    return (await stat(path.join(target, 'environments'))).isDirectory();
  } catch {
    return false;
  }
}

export async function loadAnyCatalogue(target: string, opts: FleetOptions): Promise<Catalogue> {
  if (await isFleetTree(target)) {
    fullSpeed(); // modules, data layers, templates: compiling a fleet node is long enough to optimise
    return (await import('./fleet.js')).loadAnyCatalogue(target, opts);
  }
  return loadCatalogue(target, { facts: opts.facts, registry: opts.registry });
}
