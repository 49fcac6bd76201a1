/**
 * The state of one run, handed to each phase (run.ts) as one argument instead of many:
 * the resolved config, the graph, one `State` per resource, the signal that cancels
 * provider calls, and (once the reads are done) the stores of the state directory. Also
 * the few verbs every phase shares: plan one resource, read one again, and set a
 * resource's outcome (failed, refused, held, skipped) with its log line.
 */
import type { Logger } from 'winston';
import type { Catalogue, CatalogueResource } from '../core/types.js';
import { declaredAbsent, type Provider, type ProviderContext, type ResourcePlan, type View } from '../providers/types.js';
import { TsconvergeError, toTsconvergeError } from '../core/errors.js';
import type { Graph } from './graph.js';
import { planResource } from './diff.js';
import { withTextDiffs } from './textdiff.js';
import { withDeltas } from './delta.js';
import { HELD } from './hold.js';
import type { OwedStore } from './owed.js';
import type { AppliedHashes } from './applied-hashes.js';
import { guard } from './guard.js';
import { ownershipPlan, type AdoptionStore } from './ownership.js';
import type { Status } from './report.js';
import type { RunConfig } from './run-config.js';

export interface State {
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

/** A run before its state directory is read: what suitability and the reads need. */
export interface RunSetup {
  readonly config: RunConfig;
  readonly catalogue: Catalogue;
  readonly graph: Graph;
  /** One per resource, by id, in declaration order. */
  readonly states: ReadonlyMap<string, State>;
  readonly startedAt: Date;
  /** Aborts the provider calls in flight: the grace after an interrupt is over. */
  readonly hard: AbortSignal;
  /** The context of one provider call, cancelled by `signal`. */
  readonly ctxFor: (signal: AbortSignal) => ProviderContext;
}

/** What the state directory holds for this run (opened after the reads: run.ts openStores). */
export interface RunStores {
  readonly adoption: AdoptionStore;
  /** The last applied state; rememberApplied updates it in place. */
  readonly applied: AppliedHashes;
  /** `applied` as it was read, so that an unchanged one is not written. */
  readonly appliedBefore: string;
  readonly owed: OwedStore;
  /** Who owed each resource a restart when the run started (reported as refreshOwedBy). */
  readonly owedAtStart: ReadonlyMap<string, string | undefined>;
}

/** A run with its stores open: what plan, apply and report work on. */
export interface Run extends RunSetup {
  readonly stores: RunStores;
}

/** Plans `s` from `observed`; objects tsconverge did not create are refused or adopted (engine/ownership.ts). */
export function planOf(run: Run, s: State, observed: unknown): ResourcePlan {
  const p = s.provider!;
  const views = p.views(s.resource, observed, run.ctxFor(new AbortController().signal));
  s.desired = views.desired;
  const plan = planResource(views.desired, views.actual, declaredAbsent(p, s.resource), run.config.schemas.kinds.get(s.resource.kind), s.resource.sensitive);
  return ownershipPlan(
    withDeltas(withTextDiffs(plan, plan.action === 'none' ? undefined : p.texts?.(s.resource, observed))),
    p,
    s.resource,
    observed,
    run.stores.adoption,
    run.config.adopt,
  );
}

/** Reads `s` again, alone (after a dependency changed, after an apply, before a retry). */
export async function readOne(run: RunSetup, s: State): Promise<unknown> {
  const m = await guard(`${s.resource.id}: read`, s.resource.id, run.config.readTimeoutMs, (signal) => s.provider!.readMany([s.resource], run.ctxFor(signal)), {
    parent: run.hard,
  });
  return m.get(s.resource.id) ?? null;
}

export function fail(s: State, err: unknown, log: Logger): void {
  s.status = 'failed';
  s.error = toTsconvergeError(err, s.resource.id);
  log.error(s.error.format());
}

/** Refused by its provider (Provider.refuse), in plan and apply alike: nothing is applied, its dependents are skipped. */
export function refuse(s: State, err: TsconvergeError, log: Logger): void {
  s.status = 'failed';
  s.refused = true;
  s.error = err;
  log.error(err.format());
}

export function hold(s: State, err: TsconvergeError, log: Logger): void {
  s.status = 'skipped';
  s.error = err;
  log.warn(`${s.resource.id}: ${err.message}`);
}

export function skip(s: State, dep: string, log: Logger, refused = false): void {
  s.status = 'skipped';
  s.error = new TsconvergeError('DEPENDENCY_FAILED', refused ? `skipped because ${dep} is refused` : `skipped because ${dep} failed or was skipped`, {
    resource: s.resource.id,
    hint: `fix ${dep} first; this resource is converged on the next run`,
  });
  log.warn(`${s.resource.id}: ${s.error.message}`);
}

export function interruptedSkip(s: State, log: Logger): void {
  s.status = 'skipped';
  s.error = new TsconvergeError('INTERRUPTED', 'not started: the run was interrupted', {
    resource: s.resource.id,
    hint: 'run apply again to converge it',
  });
  log.warn(`${s.resource.id}: ${s.error.message}`);
}

/** A held resource (engine/hold.ts) is reported as skipped, but does not block what depends on it: it keeps running. */
export function blocks(s: State): boolean {
  return s.status === 'failed' || (s.status === 'skipped' && s.error?.code !== HELD);
}

/** When a dependency of `id` failed or was skipped (not held), `s` is skipped for it: true. */
export function skippedForDependency(run: RunSetup, id: string, s: State): boolean {
  const failedDep = [...run.graph.deps.get(id)!].find((d) => blocks(run.states.get(d)!));
  if (!failedDep) return false;
  skip(s, failedDep, run.config.log, run.states.get(failedDep)!.refused);
  return true;
}
