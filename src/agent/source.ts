/**
 * Where the agent's catalogue comes from. A source is compiled (or fetched) fresh at
 * every run, so a change reaches the host at the next run; when that fails with an
 * input error, the source falls back to the last-known-good catalogue (cache.ts) and
 * says so (`cached: true` with the error). With no last-known-good the error is thrown
 * and the run does not happen.
 *
 * The source is chosen in one place, createCatalogueSource: today a manifest file or
 * directory, or a fleet tree compiled for one node. The catalogue server source
 * (`--server URL`, src/agent/server-source.ts) plugs in there.
 */
import { ManifestErrors, TsconvergeError } from '../engine/errors.js';
import type { Catalogue } from '../catalogue/compile.js';
import type { Facts } from '../providers/facts.js';
import { readLastKnownGood, saveLastKnownGood } from './cache.js';

export interface SourceResult {
  readonly catalogue: Catalogue;
  /** Catalogue content hash (catalogue.version). */
  readonly digest: string;
  /** True when this is the last-known-good, not fresh. */
  readonly cached: boolean;
  /** Why fresh failed, when cached. */
  readonly error?: TsconvergeError;
  /** The fleet/server code version when known. */
  readonly codeVersion?: string;
  /** When this catalogue was compiled or fetched (ISO time); the catalogue's age is measured from it. */
  readonly compiledAt?: string;
}

export interface CatalogueSource {
  load(facts: Facts, signal: AbortSignal): Promise<SourceResult>;
}

/** Input errors as one TsconvergeError (a ManifestErrors batch keeps every problem in its message). */
export function asInputError(err: unknown): TsconvergeError | undefined {
  if (err instanceof TsconvergeError) return err;
  if (err instanceof ManifestErrors) {
    const first = err.errors[0];
    // The message lists every problem with its file, line and hint.
    return new TsconvergeError(first?.code ?? 'MANIFEST_INVALID', err.message, { cause: err, terminal: true });
  }
  return undefined;
}

export interface LocalSourceOptions {
  /** A manifest file or directory, or a fleet tree (it has environments/). */
  readonly path: string;
  readonly stateDir: string;
  /** Fleet trees: the node (default: the hostname fact), environment, secrets directory. */
  readonly node?: string;
  readonly environment?: string;
  readonly secretsDir?: string;
  /** Checks a compiled catalogue before it becomes last-known-good (the graph check); throws input errors. */
  readonly check?: (catalogue: Catalogue) => void;
}

/**
 * Fresh, else last-known-good: `fresh` compiles or fetches and throws input errors;
 * anything else (a bug) propagates. Shared by every source. `memo` remembers the digest
 * last saved, so an unchanged catalogue is not rewritten at every run.
 */
export async function withLastKnownGood(
  stateDir: string,
  node: string | undefined,
  fresh: () => Promise<{ catalogue: Catalogue; codeVersion?: string }>,
  memo: { saved?: string } = {},
): Promise<SourceResult> {
  try {
    const { catalogue, codeVersion } = await fresh();
    const compiledAt = new Date().toISOString();
    if (memo.saved !== catalogue.version) {
      await saveLastKnownGood(stateDir, { catalogue, savedAt: compiledAt, ...(node ? { node } : {}), ...(codeVersion ? { codeVersion } : {}) });
      memo.saved = catalogue.version;
    }
    return { catalogue, digest: catalogue.version, cached: false, compiledAt, ...(codeVersion ? { codeVersion } : {}) };
  } catch (err) {
    const error = asInputError(err);
    if (!error) throw err;
    const lkg = await readLastKnownGood(stateDir);
    if (!lkg) throw error;
    return { catalogue: lkg.catalogue, digest: lkg.digest, cached: true, error, compiledAt: lkg.savedAt, ...(lkg.codeVersion ? { codeVersion: lkg.codeVersion } : {}) };
  }
}

export function createLocalSource(opts: LocalSourceOptions): CatalogueSource {
  const memo: { saved?: string } = {};
  return {
    async load(facts) {
      return withLastKnownGood(opts.stateDir, opts.node ?? facts.hostname, async () => {
        const { isFleetTree, compileFleet } = await import('../catalogue/fleet.js');
        let catalogue: Catalogue;
        if (await isFleetTree(opts.path)) {
          catalogue = (await compileFleet(opts.path, { facts, node: opts.node, environment: opts.environment, secrets: { dir: opts.secretsDir } })).catalogue;
        } else {
          const { loadCatalogue } = await import('../catalogue/compile.js');
          catalogue = await loadCatalogue(opts.path, { facts });
        }
        opts.check?.(catalogue);
        return { catalogue };
      }, memo);
    },
  };
}

/** What selects a source: the agent's flags. */
export interface SourceSelection extends Omit<LocalSourceOptions, 'path' | 'check'> {
  /** --manifests PATH (a manifest file or directory, or a fleet tree). */
  readonly manifests?: string;
}

/** The one place a source is chosen from the agent's flags (the server source is added here). */
export function createCatalogueSource(sel: SourceSelection, check?: (catalogue: Catalogue) => void): CatalogueSource {
  if (sel.manifests === undefined) {
    throw new TsconvergeError('INVALID_VALUE', 'the agent needs a catalogue source: --manifests PATH (a manifest file or directory, or a fleet tree with --node)', { terminal: true, hint: 'tsconverge agent --manifests /etc/tsconverge/manifests' });
  }
  return createLocalSource({ ...sel, path: sel.manifests, ...(check ? { check } : {}) });
}
