/**
 * The phases of a run around apply (engine/apply-phase.ts), in the order run.ts calls
 * them: suitability and read (per kind, kinds in parallel), plan, under noop the judgement
 * apply would make, and the report. Each takes the run (engine/run-state.ts) and nothing else.
 */
import { TsconvergeError, toTsconvergeError } from '../core/errors.js';
import type { Consequences, Json } from '../providers/types.js';
import { guard } from './guard.js';
import { judgeChange } from './hold.js';
import { describeDrift, driftPaths } from './applied-hashes.js';
import { exitCodeOf, summarise, type Report, type ResourceReport } from './report.js';
import { fail, hold, planOf, refuse, skippedForDependency, type Run, type RunSetup, type State } from './run-state.js';

/** 1 + 2: each kind's provider says, once, whether it can run here, then reads all its resources in one batch. */
export async function suitabilityAndRead(run: RunSetup): Promise<void> {
  const byKind = new Map<string, State[]>();
  for (const s of run.states.values()) {
    const list = byKind.get(s.resource.kind);
    if (list) list.push(s);
    else byKind.set(s.resource.kind, [s]); // not a copy per resource: that was quadratic
  }
  await Promise.all([...byKind].map(([kind, list]) => readKind(run, kind, list)));
}

async function readKind(run: RunSetup, kind: string, list: State[]): Promise<void> {
  const { log, readTimeoutMs } = run.config;
  const provider = list[0]!.provider;
  if (!provider) {
    for (const s of list) fail(s, new TsconvergeError('PROVIDER_UNSUITABLE', `no provider is registered for kind ${kind}`, { terminal: true }), log);
    return;
  }
  try {
    const unfit = await guard(`${kind}: suitability check`, undefined, readTimeoutMs, (signal) => provider.suitable(run.ctxFor(signal)));
    if (unfit)
      throw new TsconvergeError(unfit.code, unfit.reason, {
        hint: `the ${kind} resources cannot be converged on this host until this is fixed; other kinds still converge`,
      });
    const observed = await guard(`${kind}: read`, undefined, readTimeoutMs, (signal) =>
      provider.readMany(
        list.map((s) => s.resource),
        run.ctxFor(signal),
      ),
    );
    for (const s of list) s.observed = observed.get(s.resource.id) ?? null;
  } catch (err) {
    const e = toTsconvergeError(err);
    log.error(`${kind}: ${e.format()}`);
    for (const s of list) {
      s.status = 'failed';
      s.error = toTsconvergeError(e, s.resource.id);
    }
  }
}

/** 3: plan every resource that was read, and say which of its changes are drift (engine/applied.ts). */
export function planAll(run: Run): void {
  const { applied } = run.stores;
  for (const s of run.states.values()) {
    if (s.status === 'failed') continue;
    try {
      s.plan = planOf(run, s, s.observed);
    } catch (err) {
      fail(s, err, run.config.log);
    }
    if (s.plan) {
      s.drift = describeDrift(s.plan, s.desired, applied[s.resource.id], s.resource.sensitive);
      s.driftPaths = driftPaths(s.plan, s.desired, applied[s.resource.id], s.resource.sensitive);
    }
  }
}

/** 3, under noop: what apply would do with each plan, in dependency order; nothing is applied. */
export function judgeAll(run: Run): void {
  const {
    graph,
    states,
    stores: { owed },
    config: { log, allowReplace },
  } = run;
  for (const id of graph.order) {
    const s = states.get(id)!;
    if (s.status === 'failed') continue;
    if (skippedForDependency(run, id, s)) continue;
    predictFollow(
      s,
      [...graph.deps.get(id)!].map((d) => states.get(d)!),
    );
    const judged = judgeChange(s.provider, s.resource, s.plan!, s.driftPaths, allowReplace);
    if (judged && 'held' in judged) {
      hold(s, judged.held, log);
      continue;
    }
    if (judged) {
      refuse(s, judged.refused, log);
      continue;
    }
    const notifiedBy = [...graph.deps.get(id)!].filter((d) => graph.notifies.get(d)!.has(id) && states.get(d)!.status === 'pending');
    s.refresh =
      (notifiedBy.length > 0 || owed.get(id) !== undefined || s.plan!.refresh) &&
      s.provider?.refresh !== undefined &&
      (s.plan!.action === 'none' || s.plan!.action === 'update');
    if (s.refresh && notifiedBy.length > 0) s.notifiedBy = notifiedBy;
    s.status = s.plan!.action !== 'none' || s.refresh ? 'pending' : 'unchanged';
  }
}

/** Under noop: a pending dependency change that will replace this resource when applied makes the plan say so. */
function predictFollow(s: State, deps: readonly State[]): void {
  if (!s.plan || (s.plan.action !== 'none' && s.plan.action !== 'update') || !s.provider?.follows) return;
  const dep = deps.find((d) => d.status === 'pending' && d.plan && s.provider!.follows!(s.resource, d.resource, d.plan) === 'replace');
  if (!dep) return;
  s.plan = { ...s.plan, action: 'replace', forcedBy: [...new Set([...s.plan.forcedBy, 'image'])] };
  s.follows = dep.resource.id;
}

/** 6: the report, resources in dependency order. */
export function reportOf(run: Run): Report {
  const { config, startedAt } = run;
  const resources = run.graph.order.map((id) => resourceReport(run, id));
  const summary = summarise(resources);
  return {
    formatVersion: 1,
    catalogue: run.catalogue.version,
    noop: config.noop,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    resources,
    summary,
    exitCode: exitCodeOf(summary),
    ...(config.signal?.aborted ? { interrupted: true } : {}),
  };
}

function resourceReport(run: Run, id: string): ResourceReport {
  const s = run.states.get(id)!;
  const owedBy = run.stores.owedAtStart.get(id);
  return {
    id,
    kind: s.resource.kind,
    name: s.resource.name,
    action: s.plan?.action ?? 'none',
    status: s.status ?? 'failed',
    changes: s.plan?.changes ?? [],
    ...(s.plan?.adopt ? { adopt: s.plan.adopt } : {}),
    forcedBy: s.plan?.forcedBy ?? [],
    refresh: s.refresh,
    ...(s.refresh && owedBy ? { refreshOwedBy: owedBy } : {}),
    ...(s.notifiedBy ? { notifiedBy: s.notifiedBy } : {}),
    ...(s.drift ? { drift: s.drift } : {}),
    ...(s.follows ? { follows: s.follows } : {}),
    ...consequencesOf(s),
    ...(s.refused ? { refused: true } : {}),
    ...(s.error ? { error: s.error.toJSON() } : {}),
    ...detailsOf(s),
    durationMs: s.finished > s.started ? s.finished - s.started : 0,
    ...(s.status === 'changed' && s.finished > 0 ? { finishedAt: new Date(s.finished).toISOString() } : {}),
  };
}

/** What a replace or restart costs, from the provider (shown in the plan and report). */
function consequencesOf(s: State): { consequences?: Consequences } {
  const change = s.plan?.action === 'replace' ? 'replace' : s.refresh ? 'restart' : undefined;
  if (!change || !s.provider?.consequences) return {};
  try {
    const c = s.provider.consequences(s.resource, s.observed, change);
    return c ? { consequences: c } : {};
  } catch {
    return {};
  }
}

/** What the provider reports besides changes, from the last observed state (Provider.details). */
function detailsOf(s: State): { details?: Readonly<Record<string, Json>> } {
  if (!s.provider?.details || s.observed === undefined) return {};
  try {
    const d = s.provider.details(s.resource, s.observed);
    return d ? { details: d } : {};
  } catch {
    return {};
  }
}
