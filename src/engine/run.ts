/**
 * One run: read -> diff -> apply -> read again, level-based. The engine owns noop,
 * ordering, parallelism, timeouts, crash guarding and reporting; providers only read
 * and converge.
 *
 * The options are resolved once (engine/run-config.ts); the run's state is one object
 * (engine/run-state.ts) handed to each phase in turn:
 * 1. Ask each kind's provider, once, whether it can run here (phases.ts).
 * 2. Read all resources of each kind in one batch (kinds in parallel) (phases.ts).
 * 3. Plan every resource (phases.ts). Under noop, stop here: nothing is applied; the plan
 *    says what apply would do (held, refused, skipped, restarted).
 * 4. Apply in dependency order, independent resources in parallel (bounded). A
 *    resource whose dependency failed is skipped; the rest converges. A resource whose
 *    dependency changed is read again first, because the world moved under it
 *    (apply-phase.ts).
 * 5. After an apply, read again: the change must show, or the resource fails
 *    with NOT_CONVERGED (apply-phase.ts).
 * 6. Report (phases.ts).
 */
import type { Catalogue } from '../core/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { declaredAbsent, type ProviderContext } from '../providers/types.js';
import { createRootFs } from '../core/rootfs.js';
import { createProcessRunner } from '../core/exec.js';
import { createGraph } from './graph.js';
import { openOwed } from './owed.js';
import { fingerprint, readAppliedHashes, writeAppliedHashes } from './applied-hashes.js';
import { openAdoptionStore, resolveAdoptionDir } from './ownership.js';
import type { Report } from './report.js';
import { resolveRunConfig, type RunConfig, type RunOptions } from './run-config.js';
import type { Run, RunSetup, RunStores, State } from './run-state.js';
import { judgeAll, planAll, reportOf, suitabilityAndRead } from './phases.js';
import { applyAll } from './apply-phase.js';

export type { RunOptions } from './run-config.js';

export async function runCatalogue(catalogue: Catalogue, providers: ProviderRegistry, opts: RunOptions): Promise<Report> {
  const startedAt = new Date();
  const config = resolveRunConfig(opts);
  const hard = new AbortController();
  const setup = newRun(catalogue, providers, config, startedAt, hard.signal);
  const disarm = armInterrupt(config, hard);
  try {
    await suitabilityAndRead(setup);
    const run: Run = { ...setup, stores: await openStores(setup) };
    planAll(run);
    if (config.noop) judgeAll(run);
    else {
      await applyAll(run);
      await rememberApplied(run);
    }
    return reportOf(run);
  } finally {
    disarm();
  }
}

/** The run before anything is read: the graph, one state per resource, and the context of a provider call. */
function newRun(catalogue: Catalogue, providers: ProviderRegistry, config: RunConfig, startedAt: Date, hard: AbortSignal): RunSetup {
  const fs = createRootFs(config.root);
  const exec = createProcessRunner();
  const { root, log, facts } = config;
  const ctxFor = (signal: AbortSignal): ProviderContext => ({ root, fs, exec, log, facts, signal });
  const states = new Map<string, State>(
    catalogue.resources.map((r) => [
      r.id,
      { resource: r, provider: providers.find(r.kind), observed: null, refresh: false, driftPaths: [], started: 0, finished: 0 },
    ]),
  );
  return { config, catalogue, graph: createGraph(catalogue, providers), states, startedAt, hard, ctxFor };
}

/**
 * On the caller's signal no new resource starts (apply-phase.ts asks it); after the grace
 * `hard` aborts the provider calls in flight. Returns the undo, for when the run ends.
 */
function armInterrupt(config: RunConfig, hard: AbortController): () => void {
  const { signal, interruptGraceMs, log } = config;
  let graceTimer: NodeJS.Timeout | undefined;
  const onInterrupt = (): void => {
    log.warn(`interrupted: no new resource is started; waiting for the ones in flight (at most ${Math.round(interruptGraceMs / 1000)} s)`);
    graceTimer = setTimeout(() => hard.abort(signal!.reason), interruptGraceMs);
  };
  if (signal?.aborted) onInterrupt();
  else signal?.addEventListener('abort', onInterrupt, { once: true });
  return () => {
    clearTimeout(graceTimer);
    signal?.removeEventListener('abort', onInterrupt);
  };
}

/** What the state directory holds for this run: adoptions, the last applied state, the restarts owed. */
async function openStores(run: RunSetup): Promise<RunStores> {
  const opts = run.config;
  const adoption = await openAdoptionStore(resolveAdoptionDir({ stateDir: opts.stateDir, root: opts.root }));
  const applied = await readAppliedHashes(opts.stateDir);
  const appliedBefore = JSON.stringify(applied);
  const owed = await openOwed(opts.stateDir, !opts.noop);
  const owedAtStart = new Map([...run.states.keys()].map((id) => [id, owed.get(id)?.because]));
  return { adoption, applied, appliedBefore, owed, owedAtStart };
}

/** Record what was applied (declared hashes) for resources that now match; drop deleted ones. */
async function rememberApplied(run: Run): Promise<void> {
  const { stateDir, log } = run.config;
  if (!stateDir) return;
  const { applied, appliedBefore } = run.stores;
  for (const s of run.states.values()) {
    if (s.status !== 'changed' && s.status !== 'unchanged') continue;
    if (s.plan?.action === 'delete' || declaredAbsent(s.provider, s.resource)) delete applied[s.resource.id];
    else if (s.desired) applied[s.resource.id] = fingerprint(s.desired, s.resource.sensitive);
  }
  if (JSON.stringify(applied) === appliedBefore) return; // nothing new: no write
  try {
    await writeAppliedHashes(stateDir, applied);
  } catch (err) {
    log.warn(`cannot record the applied state in ${stateDir}: ${(err as Error).message}`);
  }
}
