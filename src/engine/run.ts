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
import type { Catalogue, CatalogueResource } from '../catalogue/compile.js';
import { createSchemaRegistry, type SchemaRegistry } from '../catalogue/schemas.js';
import type { Facts } from '../providers/facts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { createRootFs } from '../providers/rootfs.js';
import { createProcessRunner } from '../providers/exec.js';
import { declaredAbsent, type Provider, type ProviderContext, type ResourcePlan } from '../providers/types.js';
import { TsconvergeError, toTsconvergeError } from './errors.js';
import { createGraph } from './graph.js';
import { planResource } from './diff.js';
import { createLimiter, guard } from './guard.js';
import { exitCodeOf, summarise, type Report, type ResourceReport, type Status } from './report.js';

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
}

interface State {
  readonly resource: CatalogueResource;
  readonly provider?: Provider;
  observed: unknown;
  plan?: ResourcePlan;
  status?: Status;
  error?: TsconvergeError;
  refresh: boolean;
  started: number;
  finished: number;
}

export async function runCatalogue(catalogue: Catalogue, providers: ProviderRegistry, opts: RunOptions): Promise<Report> {
  const startedAt = new Date();
  const schemas = opts.schemas ?? createSchemaRegistry();
  const graph = createGraph(catalogue, providers);
  const readTimeout = opts.readTimeoutMs ?? 60_000;
  const applyTimeout = opts.applyTimeoutMs ?? 600_000;
  const fs = createRootFs(opts.root);
  const exec = createProcessRunner();
  const ctxFor = (signal: AbortSignal): ProviderContext => ({ root: opts.root, fs, exec, log: opts.log, facts: opts.facts, signal });
  const states = new Map<string, State>(catalogue.resources.map((r) => [r.id, { resource: r, provider: providers.find(r.kind), observed: null, refresh: false, started: 0, finished: 0 }]));
  const fail = (s: State, err: unknown): void => {
    s.status = 'failed';
    s.error = toTsconvergeError(err, s.resource.id);
    opts.log.error(s.error.format());
  };

  // 1 + 2: suitability and batch reads, per kind, kinds in parallel.
  const byKind = new Map<string, State[]>();
  for (const s of states.values()) byKind.set(s.resource.kind, [...(byKind.get(s.resource.kind) ?? []), s]);
  await Promise.all([...byKind].map(async ([kind, list]) => {
    const provider = list[0]!.provider;
    if (!provider) {
      for (const s of list) fail(s, new TsconvergeError('PROVIDER_UNSUITABLE', `no provider is registered for kind ${kind}`, { terminal: true }));
      return;
    }
    try {
      const reason = await guard(`${kind}: suitability check`, undefined, readTimeout, (signal) => provider.suitable(ctxFor(signal)));
      if (reason) throw new TsconvergeError(reason.startsWith('Docker engine') ? 'DOCKER_UNREACHABLE' : 'PROVIDER_UNSUITABLE', reason, {
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

  // 3: plan.
  const planOf = (s: State, observed: unknown): ResourcePlan => {
    const p = s.provider!;
    const views = p.views(s.resource, observed, ctxFor(new AbortController().signal));
    return planResource(views.desired, views.actual, declaredAbsent(p, s.resource), schemas.kinds.get(s.resource.kind), s.resource.sensitive);
  };
  for (const s of states.values()) {
    if (s.status === 'failed') continue;
    try { s.plan = planOf(s, s.observed); } catch (err) { fail(s, err); }
  }

  if (opts.noop) {
    for (const id of graph.order) {
      const s = states.get(id)!;
      if (s.status === 'failed') continue;
      const failedDep = [...graph.deps.get(id)!].find((d) => states.get(d)!.status === 'failed' || states.get(d)!.status === 'skipped');
      if (failedDep) { skip(s, failedDep, opts.log); continue; }
      const notifiedBy = [...graph.deps.get(id)!].filter((d) => graph.notifies.get(d)!.has(id) && states.get(d)!.status === 'pending');
      s.refresh = notifiedBy.length > 0 && s.provider?.refresh !== undefined && (s.plan!.action === 'none' || s.plan!.action === 'update');
      s.status = s.plan!.action !== 'none' || s.refresh ? 'pending' : 'unchanged';
    }
  } else {
    await applyAll(graph, states, opts, applyTimeout, readTimeout, ctxFor, planOf, fail);
  }

  const resources: ResourceReport[] = graph.order.map((id) => {
    const s = states.get(id)!;
    return {
      id, kind: s.resource.kind, name: s.resource.name,
      action: s.plan?.action ?? 'none',
      status: s.status ?? 'failed',
      changes: s.plan?.changes ?? [],
      forcedBy: s.plan?.forcedBy ?? [],
      refresh: s.refresh,
      ...(s.error ? { error: s.error.toJSON() } : {}),
      durationMs: s.finished > s.started ? s.finished - s.started : 0,
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
  };
}

function skip(s: State, dep: string, log: Logger): void {
  s.status = 'skipped';
  s.error = new TsconvergeError('DEPENDENCY_FAILED', `skipped because ${dep} failed or was skipped`, {
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
): Promise<void> {
  const limit = createLimiter(Math.max(1, opts.concurrency ?? 8));
  const done = new Map<string, Promise<void>>();
  const changed = (id: string): boolean => states.get(id)!.status === 'changed';
  const readOne = async (s: State): Promise<unknown> => {
    const m = await guard(`${s.resource.id}: read`, s.resource.id, readTimeout, (signal) => s.provider!.readMany([s.resource], ctxFor(signal)));
    return m.get(s.resource.id) ?? null;
  };

  const applyAndVerify = async (s: State, plan: ResourcePlan): Promise<void> => {
    opts.log.info(`${s.resource.id}: ${plan.action}${plan.forcedBy.length ? ` (forced by ${plan.forcedBy.join(', ')})` : ''}`);
    await guard(`${s.resource.id}: ${plan.action}`, s.resource.id, applyTimeout, (signal) => s.provider!.apply(s.resource, plan, s.observed, ctxFor(signal)));
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
    const failedDep = deps.find((d) => states.get(d)!.status === 'failed' || states.get(d)!.status === 'skipped');
    if (failedDep) { skip(s, failedDep, opts.log); return; }
    await limit(async () => {
      s.started = Date.now();
      const p = s.provider!;
      try {
        if (deps.some(changed)) {
          s.observed = await readOne(s);
          s.plan = planOf(s, s.observed);
        }
        const notified = deps.some((d) => graph.notifies.get(d)!.has(id) && changed(d));
        const plan = s.plan!;
        if (plan.action !== 'none') {
          for (let attempt = 0; ; attempt++) {
            try {
              await applyAndVerify(s, s.plan!);
              break;
            } catch (err) {
              const e = toTsconvergeError(err, s.resource.id);
              if (e.terminal || attempt >= (opts.retries ?? 1)) throw e;
              const wait = opts.retryDelayMs?.(attempt + 1) ?? 1000 * 2 ** attempt;
              opts.log.warn(`${s.resource.id}: ${e.message}; retrying in ${wait} ms (attempt ${attempt + 2})`);
              await new Promise((r) => setTimeout(r, wait));
              s.observed = await readOne(s); // level-based: plan again from what is
              s.plan = planOf(s, s.observed);
              if (s.plan.action === 'none') break;
            }
          }
        }
        if (notified && p.refresh && (s.plan!.action === 'none' || s.plan!.action === 'update')) {
          opts.log.info(`${s.resource.id}: refresh (notified)`);
          await guard(`${s.resource.id}: refresh`, s.resource.id, applyTimeout, (signal) => p.refresh!(s.resource, s.observed, ctxFor(signal)));
          s.refresh = true;
        }
        s.status = s.plan!.action !== 'none' || s.refresh ? 'changed' : 'unchanged';
      } catch (err) {
        fail(s, err);
      } finally {
        s.finished = Date.now();
      }
    });
  };

  for (const id of graph.order) done.set(id, runOne(id));
  await Promise.all(done.values());
}
