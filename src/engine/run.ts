/**
 * One run: read -> diff -> apply -> read again, level-based. The engine owns noop,
 * ordering, parallelism, timeouts, crash guarding and reporting; providers only read
 * and converge.
 *
 * 1. Ask each kind's provider, once, whether it can run here.
 * 2. Read all resources of each kind in one batch (kinds in parallel).
 * 3. Plan every resource. Under noop, stop here: nothing is applied.
 * 4. Apply in dependency order, independent resources in parallel (bounded). A
 *    resource whose dependency failed is skipped; the rest converges. A resource whose
 *    dependency changed is read again first, because the world moved under it.
 * 5. After an apply, read again: the change must show, or the resource fails
 *    with NOT_CONVERGED.
 */
import type { Logger } from 'winston';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import { createSchemaRegistry, type SchemaRegistry } from '../spec/schemas.js';
import type { Facts } from '../facts/facts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { createRootFs } from '../core/rootfs.js';
import { createProcessRunner } from '../core/exec.js';
import { declaredAbsent, type Provider, type ProviderContext, type ResourcePlan, type View, type Consequences, type Json } from '../providers/types.js';
import { TsconvergeError, toTsconvergeError } from '../core/errors.js';
import { createGraph } from './graph.js';
import { planResource } from './diff.js';
import { withTextDiffs } from './textdiff.js';
import { withDeltas } from './delta.js';
import { judgeChange, HELD } from './hold.js';
import { openOwed, type OwedStore } from './owed.js';
import { describeDrift, driftPaths, fingerprint, readAppliedHashes as readApplied, writeAppliedHashes as writeApplied, type AppliedHashes as AppliedState } from './applied-hashes.js';
import { guard } from './guard.js';
import { createLimiter } from '../core/limit.js';
import { openAdoptionStore, ownershipPlan, recordAdoption, resolveAdoptionDir, type AdoptionStore } from './ownership.js';
import { exitCodeOf, summarise, type Report, type ResourceReport, type Status } from './report.js';
import { DEFAULTS } from '../core/defaults.js';

export interface RunOptions {
  readonly noop: boolean;
  readonly root: string;
  readonly log: Logger;
  readonly facts: Facts;
  /** Resources applied at once. */
  readonly concurrency?: number;
  /** Per provider call. */
  readonly readTimeoutMs?: number;
  readonly applyTimeoutMs?: number;
  /** Extra attempts after a failed apply whose error is not terminal (re-read and re-planned first). */
  readonly retries?: number;
  /** Wait before retry n (1-based); defaults to 1 s, 2 s, 4 s, ... */
  readonly retryDelayMs?: (attempt: number) => number;
  readonly schemas?: SchemaRegistry;
  /**
   * Interrupts the run (SIGINT/SIGTERM): no new resource is started (the rest are skipped
   * with INTERRUPTED) and no retry either; a resource in flight may finish, and after
   * `interruptGraceMs` (default 10 s) its call's signal aborts so the provider stops or
   * undoes its write. The report is still returned, with `interrupted: true`.
   */
  readonly signal?: AbortSignal;
  readonly interruptGraceMs?: number;
  /** Where run state lives (last applied state, owed restarts); none: nothing is remembered. */
  readonly stateDir?: string;
  /** Replace `stateful: true` resources too (engine/hold.ts). */
  readonly allowReplace?: boolean;
  /** Adopt every existing object tsconverge did not create (`--adopt`); see engine/ownership.ts. */
  readonly adopt?: boolean;
}

interface State {
  readonly resource: CatalogueResource;
  readonly provider?: Provider;
  observed: unknown;
  plan?: ResourcePlan;
  status?: Status;
  error?: TsconvergeError;
  refresh: boolean;
  /** The declared view at the last plan, and how its difference came about when not declared. */
  desired?: View;
  drift?: string;
  driftPaths: string[];
  /** Under noop: the dependency whose pending change will replace this one (Provider.follows). */
  follows?: string;
  /** The changed (pending) resources whose notification restarted (would restart) this one. */
  notifiedBy?: string[];
  /** Refused by its provider (Provider.refuse): failed, in plan and apply alike. */
  refused?: boolean;
  started: number;
  finished: number;
}

export async function runCatalogue(catalogue: Catalogue, providers: ProviderRegistry, opts: RunOptions): Promise<Report> {
  const startedAt = new Date();
  const schemas = opts.schemas ?? createSchemaRegistry();
  const graph = createGraph(catalogue, providers);
  const hard = new AbortController();
  let graceTimer: NodeJS.Timeout | undefined;
  const onInterrupt = (): void => {
    opts.log.warn(`interrupted: no new resource is started; waiting for the ones in flight (at most ${Math.round((opts.interruptGraceMs ?? DEFAULTS.interruptGraceMs) / 1000)} s)`);
    graceTimer = setTimeout(() => hard.abort(opts.signal!.reason), opts.interruptGraceMs ?? DEFAULTS.interruptGraceMs);
  };
  if (opts.signal?.aborted) onInterrupt(); else opts.signal?.addEventListener('abort', onInterrupt, { once: true });
  try {
    return await runWith(catalogue, providers, opts, graph, schemas, startedAt, hard.signal);
  } finally {
    clearTimeout(graceTimer);
    opts.signal?.removeEventListener('abort', onInterrupt);
  }
}

async function runWith(catalogue: Catalogue, providers: ProviderRegistry, opts: RunOptions, graph: ReturnType<typeof createGraph>, schemas: SchemaRegistry, startedAt: Date, hard: AbortSignal): Promise<Report> {
  const readTimeout = opts.readTimeoutMs ?? DEFAULTS.readTimeoutMs;
  const applyTimeout = opts.applyTimeoutMs ?? DEFAULTS.applyTimeoutMs;
  const fs = createRootFs(opts.root);
  const exec = createProcessRunner();
  const ctxFor = (signal: AbortSignal): ProviderContext => ({ root: opts.root, fs, exec, log: opts.log, facts: opts.facts, signal });
  const states = new Map<string, State>(catalogue.resources.map((r) => [r.id, { resource: r, provider: providers.find(r.kind), observed: null, refresh: false, driftPaths: [], started: 0, finished: 0 }]));
  const fail = (s: State, err: unknown): void => {
    s.status = 'failed';
    s.error = toTsconvergeError(err, s.resource.id);
    opts.log.error(s.error.format());
  };

  // 1 + 2: suitability and batch reads, per kind, kinds in parallel.
  const byKind = new Map<string, State[]>();
  for (const s of states.values()) {
    const list = byKind.get(s.resource.kind);
    if (list) list.push(s); else byKind.set(s.resource.kind, [s]); // not a copy per resource: that was quadratic
  }
  await Promise.all([...byKind].map(async ([kind, list]) => {
    const provider = list[0]!.provider;
    if (!provider) {
      for (const s of list) fail(s, new TsconvergeError('PROVIDER_UNSUITABLE', `no provider is registered for kind ${kind}`, { terminal: true }));
      return;
    }
    try {
      const unfit = await guard(`${kind}: suitability check`, undefined, readTimeout, (signal) => provider.suitable(ctxFor(signal)));
      if (unfit) throw new TsconvergeError(unfit.code, unfit.reason, {
        hint: `the ${kind} resources cannot be converged on this host until this is fixed; other kinds still converge`,
      });
      const observed = await guard(`${kind}: read`, undefined, readTimeout, (signal) => provider.readMany(list.map((s) => s.resource), ctxFor(signal)));
      for (const s of list) s.observed = observed.get(s.resource.id) ?? null;
    } catch (err) {
      const e = toTsconvergeError(err);
      opts.log.error(`${kind}: ${e.format()}`);
      for (const s of list) { s.status = 'failed'; s.error = toTsconvergeError(e, s.resource.id); }
    }
  }));

  // 3: plan (objects tsconverge did not create are refused or adopted: engine/ownership.ts).
  const adoption = await openAdoptionStore(resolveAdoptionDir({ stateDir: opts.stateDir, root: opts.root }));
  const planOf = (s: State, observed: unknown): ResourcePlan => {
    const p = s.provider!;
    const views = p.views(s.resource, observed, ctxFor(new AbortController().signal));
    s.desired = views.desired;
    const plan = planResource(views.desired, views.actual, declaredAbsent(p, s.resource), schemas.kinds.get(s.resource.kind), s.resource.sensitive);
    return ownershipPlan(withDeltas(withTextDiffs(plan, plan.action === 'none' ? undefined : p.texts?.(s.resource, observed))), p, s.resource, observed, adoption, opts.adopt ?? false);
  };
  const applied = await readApplied(opts.stateDir);
  const appliedBefore = JSON.stringify(applied);
  const owed = await openOwed(opts.stateDir, !opts.noop);
  const owedAtStart = new Map([...states.keys()].map((id) => [id, owed.get(id)?.because]));
  for (const s of states.values()) {
    if (s.status === 'failed') continue;
    try { s.plan = planOf(s, s.observed); } catch (err) { fail(s, err); }
    if (s.plan) {
      s.drift = describeDrift(s.plan, s.desired, applied[s.resource.id], s.resource.sensitive);
      s.driftPaths = driftPaths(s.plan, s.desired, applied[s.resource.id], s.resource.sensitive);
    }
  }

  if (opts.noop) {
    for (const id of graph.order) {
      const s = states.get(id)!;
      if (s.status === 'failed') continue;
      const failedDep = [...graph.deps.get(id)!].find((d) => blocks(states.get(d)!));
      if (failedDep) { skip(s, failedDep, opts.log, states.get(failedDep)!.refused); continue; }
      predictFollow(s, [...graph.deps.get(id)!].map((d) => states.get(d)!));
      const judged = judgeChange(s.provider, s.resource, s.plan!, s.driftPaths, opts.allowReplace);
      if (judged && 'held' in judged) { hold(s, judged.held, opts.log); continue; }
      if (judged) { refuse(s, judged.refused, opts.log); continue; }
      const notifiedBy = [...graph.deps.get(id)!].filter((d) => graph.notifies.get(d)!.has(id) && states.get(d)!.status === 'pending');
      s.refresh = (notifiedBy.length > 0 || owed.get(id) !== undefined || s.plan!.refresh) && s.provider?.refresh !== undefined && (s.plan!.action === 'none' || s.plan!.action === 'update');
      if (s.refresh && notifiedBy.length > 0) s.notifiedBy = notifiedBy;
      s.status = s.plan!.action !== 'none' || s.refresh ? 'pending' : 'unchanged';
    }
  } else {
    await applyAll(graph, states, opts, applyTimeout, readTimeout, ctxFor, planOf, fail, hard, owed, adoption);
    if (opts.stateDir) await rememberApplied(opts.stateDir, applied, appliedBefore, states, opts.log);
  }

  const resources: ResourceReport[] = graph.order.map((id) => {
    const s = states.get(id)!;
    return {
      id, kind: s.resource.kind, name: s.resource.name,
      action: s.plan?.action ?? 'none',
      status: s.status ?? 'failed',
      changes: s.plan?.changes ?? [],
      ...(s.plan?.adopt ? { adopt: s.plan.adopt } : {}),
      forcedBy: s.plan?.forcedBy ?? [],
      refresh: s.refresh,
      ...(s.refresh && owedAtStart.get(id) ? { refreshOwedBy: owedAtStart.get(id) } : {}),
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
  });
  const summary = summarise(resources);
  return {
    formatVersion: 1,
    catalogue: catalogue.version,
    noop: opts.noop,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    resources,
    summary,
    exitCode: exitCodeOf(summary),
    ...(opts.signal?.aborted ? { interrupted: true } : {}),
  };
}

function interruptedSkip(s: State, log: Logger): void {
  s.status = 'skipped';
  s.error = new TsconvergeError('INTERRUPTED', 'not started: the run was interrupted', {
    resource: s.resource.id, hint: 'run apply again to converge it',
  });
  log.warn(`${s.resource.id}: ${s.error.message}`);
}

/** A failed change that provably changed nothing (a second read plans the same changes) owes no restart. */
async function retractOwed(s: State, ids: readonly string[], owed: OwedStore, readOne: (s: State) => Promise<unknown>, planOf: (s: State, o: unknown) => ResourcePlan): Promise<void> {
  const before = JSON.stringify(s.plan?.changes ?? []);
  try {
    const again = planOf(s, await readOne(s));
    if (JSON.stringify(again.changes) !== before) return;
  } catch { return; } // cannot tell: keep them owed
  for (const id of ids) await owed.clear(id);
}

/** Under noop: a pending dependency change that will replace this resource when applied makes the plan say so. */
function predictFollow(s: State, deps: readonly State[]): void {
  if (!s.plan || (s.plan.action !== 'none' && s.plan.action !== 'update') || !s.provider?.follows) return;
  const dep = deps.find((d) => d.status === 'pending' && d.plan && s.provider!.follows!(s.resource, d.resource, d.plan) === 'replace');
  if (!dep) return;
  s.plan = { ...s.plan, action: 'replace', forcedBy: [...new Set([...s.plan.forcedBy, 'image'])] };
  s.follows = dep.resource.id;
}

/** A held resource (engine/hold.ts) is reported as skipped, but does not block what depends on it: it keeps running. */
function blocks(s: State): boolean {
  return s.status === 'failed' || (s.status === 'skipped' && s.error?.code !== HELD);
}

/** Refused by its provider (Provider.refuse), in plan and apply alike: nothing is applied, its dependents are skipped. */
function refuse(s: State, err: TsconvergeError, log: Logger): void {
  s.status = 'failed';
  s.refused = true;
  s.error = err;
  log.error(err.format());
}

function hold(s: State, err: TsconvergeError, log: Logger): void {
  s.status = 'skipped';
  s.error = err;
  log.warn(`${s.resource.id}: ${err.message}`);
}

/** What a replace or restart costs, from the provider (shown in the plan and report). */
function consequencesOf(s: State): { consequences?: Consequences } {
  const change = s.plan?.action === 'replace' ? 'replace' : s.refresh ? 'restart' : undefined;
  if (!change || !s.provider?.consequences) return {};
  try {
    const c = s.provider.consequences(s.resource, s.observed, change);
    return c ? { consequences: c } : {};
  } catch { return {}; }
}

/** What the provider reports besides changes, from the last observed state (Provider.details). */
function detailsOf(s: State): { details?: Readonly<Record<string, Json>> } {
  if (!s.provider?.details || s.observed === undefined) return {};
  try {
    const d = s.provider.details(s.resource, s.observed);
    return d ? { details: d } : {};
  } catch { return {}; }
}

/** Record what was applied (declared hashes) for resources that now match; drop deleted ones. */
async function rememberApplied(stateDir: string, applied: AppliedState, before: string, states: Map<string, State>, log: Logger): Promise<void> {
  for (const s of states.values()) {
    if (s.status !== 'changed' && s.status !== 'unchanged') continue;
    if (s.plan?.action === 'delete' || declaredAbsent(s.provider, s.resource)) delete applied[s.resource.id];
    else if (s.desired) applied[s.resource.id] = fingerprint(s.desired, s.resource.sensitive);
  }
  if (JSON.stringify(applied) === before) return; // nothing new: no write
  try { await writeApplied(stateDir, applied); } catch (err) { log.warn(`cannot record the applied state in ${stateDir}: ${(err as Error).message}`); }
}

function skip(s: State, dep: string, log: Logger, refused = false): void {
  s.status = 'skipped';
  s.error = new TsconvergeError('DEPENDENCY_FAILED', refused ? `skipped because ${dep} is refused` : `skipped because ${dep} failed or was skipped`, {
    resource: s.resource.id, hint: `fix ${dep} first; this resource is converged on the next run`,
  });
  log.warn(`${s.resource.id}: ${s.error.message}`);
}

async function applyAll(
  graph: ReturnType<typeof createGraph>,
  states: Map<string, State>,
  opts: RunOptions,
  applyTimeout: number,
  readTimeout: number,
  ctxFor: (signal: AbortSignal) => ProviderContext,
  planOf: (s: State, observed: unknown) => ResourcePlan,
  fail: (s: State, err: unknown) => void,
  hard: AbortSignal,
  owed: OwedStore,
  adoption: AdoptionStore,
): Promise<void> {
  const interrupted = (): boolean => opts.signal?.aborted === true;
  const limit = createLimiter(Math.max(1, opts.concurrency ?? DEFAULTS.concurrency));
  const done = new Map<string, Promise<void>>();
  const changed = (id: string): boolean => states.get(id)!.status === 'changed';
  const readOne = async (s: State): Promise<unknown> => {
    const m = await guard(`${s.resource.id}: read`, s.resource.id, readTimeout, (signal) => s.provider!.readMany([s.resource], ctxFor(signal)), { parent: hard });
    return m.get(s.resource.id) ?? null;
  };

  const applyAndVerify = async (s: State, plan: ResourcePlan): Promise<void> => {
    opts.log.info(`${s.resource.id}: ${plan.action}${plan.forcedBy.length ? ` (forced by ${plan.forcedBy.join(', ')})` : ''}`);
    await recordAdoption(plan, s.provider!, s.resource, s.observed, adoption);
    if (plan.action !== 'adopt') await guard(`${s.resource.id}: ${plan.action}`, s.resource.id, applyTimeout, (signal) => s.provider!.apply(s.resource, plan, s.observed, ctxFor(signal)), { parent: hard });
    const after = await readOne(s);
    const again = planOf(s, after);
    s.observed = after;
    if (again.action !== 'none') {
      throw new TsconvergeError('NOT_CONVERGED', `applied, but a second read still differs in: ${again.changes.map((c) => c.path.slice(1)).join(', ') || again.action}`, {
        resource: s.resource.id,
        terminal: true,
        hint: 'something outside tsconverge changes this resource, or the provider cannot express a declared value; run plan to see the difference',
      });
    }
  };

  const runOne = async (id: string): Promise<void> => {
    await Promise.all([...graph.deps.get(id)!].map((d) => done.get(d)));
    const s = states.get(id)!;
    if (s.status === 'failed') return;
    const deps = [...graph.deps.get(id)!];
    const failedDep = deps.find((d) => blocks(states.get(d)!));
    if (failedDep) { skip(s, failedDep, opts.log, states.get(failedDep)!.refused); return; }
    await limit(async () => {
      if (interrupted() && (s.plan!.action !== 'none' || deps.some(changed))) { interruptedSkip(s, opts.log); return; }
      s.started = Date.now();
      let owedNow: string[] = [];
      const p = s.provider!;
      try {
        if (deps.some(changed)) {
          s.observed = await readOne(s);
          s.plan = planOf(s, s.observed);
        }
        const notifiers = deps.filter((d) => graph.notifies.get(d)!.has(id) && changed(d));
        const notified = notifiers.length > 0 || owed.get(id) !== undefined;
        const plan = s.plan!;
        const judged = judgeChange(p, s.resource, plan, s.driftPaths, opts.allowReplace);
        if (judged && 'held' in judged) { hold(s, judged.held, opts.log); return; }
        if (judged) { refuse(s, judged.refused, opts.log); return; }
        if (plan.action !== 'none') {
          // Owed before the change: a run that stops after it still restarts them next time.
          owedNow = await owed.add([...graph.notifies.get(id)!].filter((t) => states.get(t)?.provider?.refresh), id);
          for (let attempt = 0; ; attempt++) {
            try {
              await applyAndVerify(s, s.plan!);
              break;
            } catch (err) {
              const e = toTsconvergeError(err, s.resource.id);
              if (e.terminal || attempt >= (opts.retries ?? DEFAULTS.retries) || interrupted()) throw e;
              const wait = opts.retryDelayMs?.(attempt + 1) ?? 1000 * 2 ** attempt;
              opts.log.warn(`${s.resource.id}: ${e.message}; retrying in ${wait} ms (attempt ${attempt + 2})`);
              await new Promise((r) => setTimeout(r, wait));
              if (interrupted()) throw e;
              s.observed = await readOne(s); // level-based: plan again from what is
              s.plan = planOf(s, s.observed);
              if (s.plan.action === 'none') break;
            }
          }
        }
        if ((notified || s.plan!.refresh) && p.refresh && (s.plan!.action === 'none' || s.plan!.action === 'update')) {
          opts.log.info(`${s.resource.id}: refresh (${notified ? 'notified' : 'a changed attribute needs a restart'})`);
          await guard(`${s.resource.id}: refresh`, s.resource.id, applyTimeout, (signal) => p.refresh!(s.resource, s.observed, ctxFor(signal)), { parent: hard });
          s.refresh = true;
          if (notifiers.length > 0) s.notifiedBy = notifiers;
        }
        if (s.refresh || s.plan!.action === 'create' || s.plan!.action === 'replace' || s.plan!.action === 'delete') {
          await owed.clear(id); // restarted, or started fresh: nothing owed any more
        }
        s.status = s.plan!.action !== 'none' || s.refresh ? 'changed' : 'unchanged';
      } catch (err) {
        fail(s, err);
        if (owedNow.length > 0) await retractOwed(s, owedNow, owed, readOne, planOf);
      } finally {
        s.finished = Date.now();
      }
    });
  };

  for (const id of graph.order) done.set(id, runOne(id));
  await Promise.all(done.values());
}
