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
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import type { Catalogue } from '../core/types.js';
import path from 'node:path';
import { DEFAULT_SECRETS_DIR } from '../catalogue/secrets.js';
import { readLastKnownGood, readReusable, saveLastKnownGood, writeInputsStamp } from './cache.js';
import { inputsStamp, type Stamp } from '../catalogue/stamp.js';
import { checkSourceSelection } from './source-check.js';
import type { CatalogueSource, ReportingSource, ServerSelection, SourceResult, SourceSelection } from './source-types.js';

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

export interface LocalSourceOptions extends Pick<SourceSelection, 'stateDir' | 'node' | 'environment' | 'secretsDir'> {
  /** A manifest file or directory, or a fleet tree (it has environments/). */
  readonly path: string;
  /** Checks a compiled catalogue before it becomes last-known-good (the graph and the providers' preflight, engine/preflight.ts); throws input errors. */
  readonly check?: (catalogue: Catalogue) => void | Promise<void>;
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
    return {
      catalogue: lkg.catalogue,
      digest: lkg.digest,
      cached: true,
      error,
      compiledAt: lkg.savedAt,
      ...(lkg.codeVersion ? { codeVersion: lkg.codeVersion } : {}),
    };
  }
}

export function createLocalSource(opts: LocalSourceOptions): CatalogueSource {
  const memo: { saved?: string } = {};
  /** The last compile in this process and the stamp of its inputs (stamp.ts). */
  let last: { stamp: Stamp; catalogue: Catalogue; compiledAt: string } | undefined;
  return {
    async load(facts) {
      const { isFleetTree } = await import('../catalogue/load-any.js');
      const { isDir } = await import('../catalogue/treefs.js');
      const fleet = await isFleetTree(opts.path);
      // Inputs unchanged since the last compile (this process's, else the one recorded in the
      // state directory by an earlier run): reuse its catalogue instead of compiling again.
      const stamp = await inputsStamp({
        // A single manifest file's tree is its directory (templates are confined to it).
        paths: [
          (await isDir(opts.path)) ? opts.path : path.dirname(opts.path),
          fleet ? path.resolve(opts.secretsDir ?? process.env.TSCONVERGE_SECRETS_DIR ?? DEFAULT_SECRETS_DIR) : undefined,
        ],
        facts,
        // Secrets can also come from TSCONVERGE_* variables; only their hash enters the stamp.
        options: {
          node: opts.node,
          environment: opts.environment,
          env: Object.entries(process.env)
            .filter(([k]) => k.startsWith('TSCONVERGE_'))
            .sort(),
        },
      });
      if (stamp && last?.stamp.value === stamp.value)
        return { catalogue: last.catalogue, digest: last.catalogue.version, cached: false, compiledAt: last.compiledAt, reused: true };
      let compiledBecause = 'the manifest tree is too large to stamp, or unreadable';
      if (stamp) {
        const reused = await readReusable(opts.stateDir, stamp);
        if (typeof reused === 'string') compiledBecause = reused;
        else {
          last = { stamp, catalogue: reused.catalogue, compiledAt: reused.savedAt };
          memo.saved = reused.digest;
          return { catalogue: reused.catalogue, digest: reused.digest, cached: false, compiledAt: reused.savedAt, reused: true };
        }
      }
      const result = await withLastKnownGood(
        opts.stateDir,
        opts.node ?? facts.hostname,
        async () => {
          let catalogue: Catalogue;
          if (fleet) {
            const { compileFleet } = await import('../catalogue/fleet.js');
            catalogue = (await compileFleet(opts.path, { facts, node: opts.node, environment: opts.environment, secrets: { dir: opts.secretsDir } })).catalogue;
          } else {
            const { loadCatalogue } = await import('../catalogue/compile.js');
            catalogue = await loadCatalogue(opts.path, { facts });
          }
          await opts.check?.(catalogue);
          return { catalogue };
        },
        memo,
      );
      if (!result.cached && stamp) {
        last = { stamp, catalogue: result.catalogue, compiledAt: result.compiledAt! };
        await writeInputsStamp(opts.stateDir, stamp, result.digest);
      }
      return result.cached ? result : { ...result, compiledBecause };
    },
  };
}

/** The server source, loaded on first use (local agents never load the TLS and X.509 code). */
function createServerSource(sel: SourceSelection & { server: ServerSelection }, node: string): ReportingSource {
  let source: Promise<import('./server-source.js').ServerSource> | undefined;
  const get = () => (source ??= import('./server-source.js').then((m) => new m.ServerSource({ ...sel.server, node, stateDir: sel.stateDir })));
  return {
    load: async (facts, signal) => (await get()).load(facts, signal),
    sendReport: async (report) => (await get()).sendReport(report),
  };
}

/** The one place a source is chosen from the agent's flags (the server source is added here). */
export function createCatalogueSource(sel: SourceSelection, check?: (catalogue: Catalogue) => void | Promise<void>): CatalogueSource | ReportingSource {
  if (checkSourceSelection(sel) === 'server') return createServerSource({ ...sel, server: sel.server! }, sel.node!);
  return createLocalSource({ ...sel, path: sel.manifests!, ...(check ? { check } : {}) });
}
