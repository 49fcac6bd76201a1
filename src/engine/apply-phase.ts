/**
 * Phase 4 + 5 of a run (run.ts): apply in dependency order, independent resources in
 * parallel (at most `concurrency` at once). A resource whose dependency failed is
 * skipped; the rest converges. A resource whose dependency changed is read and planned
 * again first, because the world moved under it. After an apply, read again: the change
 * must show, or the resource fails with NOT_CONVERGED. A failure that is not terminal is
 * retried from a fresh read. After an interrupt nothing new starts and nothing is retried.
 */
import { TsconvergeError, toTsconvergeError } from '../core/errors.js';
import { createLimiter } from '../core/limit.js';
import type { ResourcePlan } from '../providers/types.js';
import { guard } from './guard.js';
import { judgeChange } from './hold.js';
import { recordAdoption } from './ownership.js';
import { fail, hold, interruptedSkip, planOf, readOne, refuse, skippedForDependency, type Run, type State } from './run-state.js';

type Limit = ReturnType<typeof createLimiter>;

export async function applyAll(run: Run): Promise<void> {
  const limit = createLimiter(run.config.concurrency);
  const done = new Map<string, Promise<void>>();
  for (const id of run.graph.order) done.set(id, afterDependencies(run, id, done, limit));
  await Promise.all(done.values());
}

const interrupted = (run: Run): boolean => run.config.signal?.aborted === true;

async function afterDependencies(run: Run, id: string, done: ReadonlyMap<string, Promise<void>>, limit: Limit): Promise<void> {
  await Promise.all([...run.graph.deps.get(id)!].map((d) => done.get(d)));
  const s = run.states.get(id)!;
  if (s.status === 'failed') return;
  if (skippedForDependency(run, id, s)) return;
  await limit(() => applyOne(run, s));
}

/** One resource: read again if a dependency changed, judge, apply with retries, refresh, and settle what it owes. */
async function applyOne(run: Run, s: State): Promise<void> {
  const {
    graph,
    states,
    config: { log, allowReplace },
    stores: { owed },
  } = run;
  const id = s.resource.id;
  const deps = [...graph.deps.get(id)!];
  const changed = (d: string): boolean => states.get(d)!.status === 'changed';
  if (interrupted(run) && (s.plan!.action !== 'none' || deps.some(changed))) {
    interruptedSkip(s, log);
    return;
  }
  s.started = Date.now();
  let owedNow: string[] = [];
  try {
    if (deps.some(changed)) {
      s.observed = await readOne(run, s);
      s.plan = planOf(run, s, s.observed);
    }
    const notifiers = deps.filter((d) => graph.notifies.get(d)!.has(id) && changed(d));
    const notified = notifiers.length > 0 || owed.get(id) !== undefined;
    const judged = judgeChange(s.provider, s.resource, s.plan!, s.driftPaths, allowReplace);
    if (judged && 'held' in judged) {
      hold(s, judged.held, log);
      return;
    }
    if (judged) {
      refuse(s, judged.refused, log);
      return;
    }
    if (s.plan!.action !== 'none') {
      // Owed before the change: a run that stops after it still restarts them next time.
      owedNow = await owed.add(
        [...graph.notifies.get(id)!].filter((t) => states.get(t)?.provider?.refresh),
        id,
      );
      await applyWithRetries(run, s);
    }
    await refreshIfNotified(run, s, notified, notifiers);
    if (s.refresh || s.plan!.action === 'create' || s.plan!.action === 'replace' || s.plan!.action === 'delete') {
      await owed.clear(id); // restarted, or started fresh: nothing owed any more
    }
    s.status = s.plan!.action !== 'none' || s.refresh ? 'changed' : 'unchanged';
  } catch (err) {
    fail(s, err, log);
    if (owedNow.length > 0) await retractOwed(run, s, owedNow);
  } finally {
    s.finished = Date.now();
  }
}

/** Applies s.plan; a failure that is not terminal is retried (config.retries) from a fresh read and plan. */
async function applyWithRetries(run: Run, s: State): Promise<void> {
  const { retries, retryDelayMs, log } = run.config;
  for (let attempt = 0; ; attempt++) {
    try {
      await applyAndVerify(run, s, s.plan!);
      return;
    } catch (err) {
      const e = toTsconvergeError(err, s.resource.id);
      if (e.terminal || attempt >= retries || interrupted(run)) throw e;
      const wait = retryDelayMs(attempt + 1);
      log.warn(`${s.resource.id}: ${e.message}; retrying in ${wait} ms (attempt ${attempt + 2})`);
      await new Promise((r) => setTimeout(r, wait));
      if (interrupted(run)) throw e;
      s.observed = await readOne(run, s); // level-based: plan again from what is
      s.plan = planOf(run, s, s.observed);
      if (s.plan.action === 'none') return;
    }
  }
}

async function applyAndVerify(run: Run, s: State, plan: ResourcePlan): Promise<void> {
  run.config.log.info(`${s.resource.id}: ${plan.action}${plan.forcedBy.length ? ` (forced by ${plan.forcedBy.join(', ')})` : ''}`);
  await recordAdoption(plan, s.provider!, s.resource, s.observed, run.stores.adoption);
  if (plan.action !== 'adopt')
    await guard(
      `${s.resource.id}: ${plan.action}`,
      s.resource.id,
      run.config.applyTimeoutMs,
      (signal) => s.provider!.apply(s.resource, plan, s.observed, run.ctxFor(signal)),
      { parent: run.hard },
    );
  const after = await readOne(run, s);
  const again = planOf(run, s, after);
  s.observed = after;
  if (again.action !== 'none') {
    throw new TsconvergeError(
      'NOT_CONVERGED',
      `applied, but a second read still differs in: ${again.changes.map((c) => c.path.slice(1)).join(', ') || again.action}`,
      {
        resource: s.resource.id,
        terminal: true,
        hint: 'something outside tsconverge changes this resource, or the provider cannot express a declared value; run plan to see the difference',
      },
    );
  }
}

/** A notified resource (or one owed a restart, or whose change needs one) is refreshed, when its provider can. */
async function refreshIfNotified(run: Run, s: State, notified: boolean, notifiers: string[]): Promise<void> {
  const p = s.provider!;
  if (!(notified || s.plan!.refresh) || !p.refresh || (s.plan!.action !== 'none' && s.plan!.action !== 'update')) return;
  run.config.log.info(`${s.resource.id}: refresh (${notified ? 'notified' : 'a changed attribute needs a restart'})`);
  await guard(`${s.resource.id}: refresh`, s.resource.id, run.config.applyTimeoutMs, (signal) => p.refresh!(s.resource, s.observed, run.ctxFor(signal)), {
    parent: run.hard,
  });
  s.refresh = true;
  if (notifiers.length > 0) s.notifiedBy = notifiers;
}

/** A failed change that provably changed nothing (a second read plans the same changes) owes no restart. */
async function retractOwed(run: Run, s: State, ids: readonly string[]): Promise<void> {
  const before = JSON.stringify(s.plan?.changes ?? []);
  try {
    const again = planOf(run, s, await readOne(run, s));
    if (JSON.stringify(again.changes) !== before) return;
  } catch {
    return;
  } // cannot tell: keep them owed
  for (const id of ids) await run.stores.owed.clear(id);
}
