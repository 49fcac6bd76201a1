/**
 * Rollouts: a new code version of the fleet tree reaches the fleet in the waves of its
 * rollout.yaml (src/catalogue/rollout.ts, docs/rollout.md), promoted by what the nodes report.
 *
 * State lives in the store (store.ts migration 2), so replicas on one PostgreSQL agree and
 * a restarted server goes on where it was:
 *   rollout_stable  the version every node had before the current rollout (the "previous")
 *   rollouts        from -> to, state, the current wave and when it started, the policy
 *   rollout_nodes   each node's wave (assigned when the rollout starts; a node that
 *                   appears later is in the last wave)
 *   audit           who promoted, halted, reverted (an operator certificate's name, or "server")
 *
 * States: rolling -> (wave healthy after its bake) next wave ... -> done (every node on `to`)
 *         rolling -> (a wave node unhealthy) halted, or reverted when onFailure is revert
 *         operators: promote (next wave now; from halted too), promote --all (done now),
 *         halt, revert (every node of the rollout back on `from`).
 * A new code version while a rollout is under way supersedes it: the new rollout goes from
 * the stable version to the new one, so at most two versions are ever served.
 *
 * Which version a node gets (versionFor): rolling or halted: `to` for the waves up to the
 * current one, `from` for the others; reverted: `from`; otherwise the stable version. The
 * answer comes from memory (refreshed from the store every second and at each change), so
 * the warm catalogue path does no query.
 */
import type winston from 'winston';
import type { RolloutPolicy } from '../catalogue/rollout.js';
import { assignWaves } from '../catalogue/rollout.js';
import type { Db, NodeRow, Store } from './store.js';

export type RolloutState = 'rolling' | 'halted' | 'reverted' | 'done' | 'superseded';

export interface Rollout {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly state: RolloutState;
  readonly wave: number;
  readonly waveStartedAt: string;
  readonly policy: RolloutPolicy;
  readonly reason?: string;
  readonly startedAt: string;
  readonly updatedAt: string;
}

export interface AuditEntry {
  readonly id: number;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly rolloutId?: number;
  readonly detail?: unknown;
}

export interface RolloutNodeView {
  readonly node: string;
  /** The version it is served now: the new one (to) or the previous one (from). */
  readonly serves: 'new' | 'previous';
  readonly status: string;
  readonly codeVersion?: string;
  readonly lastReportAt?: string;
}

export interface RolloutStatus {
  readonly stable?: string;
  readonly rollout?: Rollout & {
    readonly waves: readonly {
      readonly index: number;
      readonly name: string;
      readonly bakeMs: number;
      readonly state: 'promoted' | 'current' | 'waiting';
      readonly nodes: readonly RolloutNodeView[];
    }[];
  };
  readonly audit: readonly AuditEntry[];
}

/** What one report says about a node's health under `policy` (undefined: healthy). */
export function unhealthyReason(report: Record<string, unknown>, policy: RolloutPolicy): string | undefined {
  const resources = Array.isArray(report.resources) ? (report.resources as { id?: string; status?: string; action?: string; error?: { code?: string } }[]) : [];
  const held = resources.filter((r) => r.error?.code === 'REPLACE_HELD');
  const failed = resources.filter((r) => (r.status === 'failed' || r.status === 'skipped') && r.error?.code !== 'REPLACE_HELD');
  const replaced = resources.filter((r) => r.action === 'replace' && r.status === 'changed');
  const ids = (l: typeof resources): string =>
    l
      .slice(0, 5)
      .map((r) => r.id ?? '?')
      .join(', ');
  if (failed.length > policy.health.maxFailed) return `${failed.length} failed resource(s): ${ids(failed)}`;
  if (held.length > policy.health.maxHeld) return `${held.length} held resource(s): ${ids(held)}`;
  if (replaced.length > policy.health.maxReplaces) return `${replaced.length} replaced resource(s): ${ids(replaced)}`;
  if (report.exitCode === 1 && report.cachedCatalogue !== true) return 'the run did not run (exit 1)';
  return undefined;
}

type Q = Pick<Db, 'query'>;
const iso = (v: unknown): string => new Date(v as string).toISOString();

function rowToRollout(r: Record<string, unknown>): Rollout {
  return {
    id: Number(r.id),
    from: String(r.from_version),
    to: String(r.to_version),
    state: r.state as RolloutState,
    wave: Number(r.wave),
    waveStartedAt: iso(r.wave_started_at),
    policy: (typeof r.policy === 'string' ? JSON.parse(r.policy) : r.policy) as RolloutPolicy,
    ...(r.reason ? { reason: String(r.reason) } : {}),
    startedAt: iso(r.started_at),
    updatedAt: iso(r.updated_at),
  };
}

export class RolloutError extends Error {
  constructor(
    message: string,
    readonly status: 404 | 409,
  ) {
    super(message);
  }
}

export class Rollouts {
  private latest: Rollout | undefined;
  private waves = new Map<string, number>();
  private stable: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly log?: winston.Logger,
  ) {}

  private get db(): Db {
    return this.store.db;
  }

  /** Read the state from the store (every replica does, every second). */
  async refresh(): Promise<void> {
    const stable = (await this.db.query<{ version: string }>('select version from rollout_stable where id = 1')).rows[0]?.version;
    const row = (await this.db.query<Record<string, unknown>>('select * from rollouts order by id desc limit 1')).rows[0];
    const latest = row ? rowToRollout(row) : undefined;
    if (latest && latest.id !== this.latest?.id) {
      const nodes = (await this.db.query<{ node: string; wave: number }>('select node, wave from rollout_nodes where rollout_id = $1', [latest.id])).rows;
      this.waves = new Map(nodes.map((n) => [n.node, Number(n.wave)]));
    }
    this.latest = latest;
    this.stable = stable;
  }

  /** Evaluate the rollout every `ms` (default a second) until close(). */
  start(ms = 1000): void {
    this.timer = setInterval(() => {
      void this.tick();
    }, ms);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
  }

  /**
   * Whether versionFor() is a rollout's decision (rolling, halted, reverted), which no other
   * version may stand in for; otherwise it is the stable version, and a replica that has not
   * loaded it yet serves the code it has.
   */
  get strict(): boolean {
    const st = this.latest?.state;
    return st === 'rolling' || st === 'halted' || st === 'reverted';
  }

  /** The rollout as this server last read it (metrics). */
  get current(): Rollout | undefined {
    return this.latest;
  }

  /** The code version `node` is to be served; undefined: the served code (no rollout has ever been recorded). */
  versionFor(node: string): string | undefined {
    const r = this.latest;
    if (r && (r.state === 'rolling' || r.state === 'halted')) {
      const wave = this.waves.get(node) ?? r.policy.waves.length - 1;
      return wave <= r.wave ? r.to : r.from;
    }
    if (r && r.state === 'reverted') return r.from;
    return this.stable;
  }

  /**
   * The tree's code version changed (or the server started): record it. No version yet:
   * it is the stable one. A tree with a rollout policy starts a rollout from the stable
   * version (superseding one under way); without one, the version is stable at once.
   */
  async onCode(version: string, policy: RolloutPolicy | undefined, nodes: () => Promise<readonly { node: string; facts?: unknown }[]>): Promise<void> {
    const known = await nodes();
    await this.db.transaction(async (q) => {
      const stable = (await q.query<{ version: string }>('select version from rollout_stable where id = 1')).rows[0]?.version;
      if (stable === undefined) {
        await q.query('insert into rollout_stable (id, version) values (1, $1)', [version]);
        return;
      }
      const latestRow = (await q.query<Record<string, unknown>>('select * from rollouts order by id desc limit 1')).rows[0];
      const latest = latestRow ? rowToRollout(latestRow) : undefined;
      // Already recorded (another replica, or this server before a restart): nothing to do.
      if (latest && latest.to === version && latest.state !== 'superseded') return;
      if (stable === version && (!latest || latest.state === 'done' || latest.state === 'superseded' || latest.state === 'reverted')) return;
      if (latest && (latest.state === 'rolling' || latest.state === 'halted')) {
        await q.query("update rollouts set state = 'superseded', active = null, reason = $2, updated_at = now() where id = $1", [
          latest.id,
          `superseded by ${version.slice(0, 19)}`,
        ]);
        await audit(q, 'server', 'supersede', latest.id, { by: version });
      }
      if (stable === version) return;
      if (!policy) {
        await q.query('update rollout_stable set version = $1, at = now() where id = 1', [version]);
        await audit(q, 'server', 'no-rollout', undefined, { version, reason: 'the tree has no rollout.yaml: every node gets it at once' });
        return;
      }
      const id = Number(
        (
          await q.query<{ id: string }>(
            "insert into rollouts (from_version, to_version, state, active, policy) values ($1, $2, 'rolling', 'active', $3) returning id",
            [stable, version, JSON.stringify(policy)],
          )
        ).rows[0]!.id,
      );
      const waves = assignWaves(policy, known);
      // One statement for the whole fleet (thousands of nodes).
      await q.query('insert into rollout_nodes (rollout_id, node, wave) select $1, n, w from unnest($2::text[], $3::int[]) as t (n, w)', [
        id,
        [...waves.keys()],
        [...waves.values()],
      ]);
      await audit(q, 'server', 'start', id, { from: stable, to: version, nodes: waves.size });
    });
    await this.refresh();
    const r = this.latest;
    if (r?.to === version && r.state === 'rolling')
      this.log?.info(`rollout ${r.id}: ${r.from.slice(0, 19)} -> ${r.to.slice(0, 19)}, wave ${r.policy.waves[r.wave]!.name} first`);
  }

  /** One evaluation of the rollout under way (every replica runs it; the store serialises them). */
  tick(): Promise<void> {
    this.ticking ??= this.evaluate()
      .catch((err: Error) => {
        this.log?.error(`rollout evaluation failed: ${err.message}`);
      })
      .finally(() => {
        this.ticking = undefined;
      });
    return this.ticking;
  }

  private async evaluate(): Promise<void> {
    await this.db.transaction(async (q) => {
      const row = (
        await q.query<Record<string, unknown>>(
          "select *, extract(epoch from (now() - wave_started_at)) * 1000 as elapsed_ms from rollouts where state = 'rolling' order by id desc limit 1",
        )
      ).rows[0];
      if (!row) return;
      const r = rowToRollout(row);
      const elapsed = Number(row.elapsed_ms);
      const wave = r.policy.waves[r.wave]!;
      const nodes = (await q.query<{ node: string }>('select node from rollout_nodes where rollout_id = $1 and wave = $2', [r.id, r.wave])).rows.map(
        (n) => n.node,
      );
      const reports =
        nodes.length === 0
          ? []
          : (
              await q.query<{ node: string; report: unknown }>(
                'select node, report from reports where node = any($1) and received_at >= (select wave_started_at from rollouts where id = $2) order by id',
                [nodes, r.id],
              )
            ).rows;
      const healthy = new Set<string>();
      for (const x of reports) {
        const rep = (typeof x.report === 'string' ? JSON.parse(x.report) : x.report) as Record<string, unknown>;
        // Only a real run of the new version counts: a noop run applied nothing, a cached run ran another version.
        if (rep.codeVersion !== r.to || rep.noop === true || rep.cachedCatalogue === true) continue;
        const why = unhealthyReason(rep, r.policy);
        if (why) return fail(q, r, `${x.node}: ${why}`);
        healthy.add(x.node);
      }
      const silent = nodes.filter((n) => !healthy.has(n));
      if (silent.length === 0 && elapsed >= wave.bakeMs) return promote(q, r, 'server', false);
      if (silent.length > 0 && elapsed >= r.policy.health.reportWithinMs)
        return fail(q, r, `no report on the new version within ${Math.round(r.policy.health.reportWithinMs / 1000)} s from ${silent.slice(0, 5).join(', ')}`);
    });
    await this.refresh();
  }

  /** Operators (routes/rollout.ts). `all`: every node now (an urgent change). */
  async promote(actor: string, all: boolean): Promise<Rollout> {
    return this.operate(async (q, r) => {
      if (r.state !== 'rolling' && r.state !== 'halted') throw new RolloutError(`rollout ${r.id} is ${r.state}: nothing to promote`, 409);
      await promote(q, r, actor, all);
    });
  }

  async halt(actor: string): Promise<Rollout> {
    return this.operate(async (q, r) => {
      if (r.state !== 'rolling') throw new RolloutError(`rollout ${r.id} is ${r.state}: only a rolling rollout halts`, 409);
      await q.query("update rollouts set state = 'halted', reason = $2, updated_at = now() where id = $1", [r.id, `halted by ${actor}`]);
      await audit(q, actor, 'halt', r.id, { wave: r.policy.waves[r.wave]!.name });
    });
  }

  async revert(actor: string): Promise<Rollout> {
    return this.operate(async (q, r) => {
      if (r.state !== 'rolling' && r.state !== 'halted') throw new RolloutError(`rollout ${r.id} is ${r.state}: only a rolling or halted rollout reverts`, 409);
      await q.query("update rollouts set state = 'reverted', active = null, reason = $2, updated_at = now() where id = $1", [r.id, `reverted by ${actor}`]);
      await audit(q, actor, 'revert', r.id, { wave: r.policy.waves[r.wave]!.name, to: r.from });
    });
  }

  private async operate(fn: (q: Q, r: Rollout) => Promise<void>): Promise<Rollout> {
    await this.db.transaction(async (q) => {
      const row = (await q.query<Record<string, unknown>>('select * from rollouts order by id desc limit 1')).rows[0];
      if (!row) throw new RolloutError('no rollout: the fleet tree has not changed since the server first served it, or it has no rollout.yaml', 404);
      await fn(q, rowToRollout(row));
    });
    await this.refresh();
    return this.latest!;
  }

  /** The rollout, its waves and their nodes, and the newest audit entries. */
  async status(nodeRows: readonly NodeRow[]): Promise<RolloutStatus> {
    await this.refresh();
    const auditRows = (await this.db.query<Record<string, unknown>>('select * from audit order by id desc limit 50')).rows;
    const audit = auditRows.map((a): AuditEntry => ({
      id: Number(a.id),
      at: iso(a.at),
      actor: String(a.actor),
      action: String(a.action),
      ...(a.rollout_id !== null && a.rollout_id !== undefined ? { rolloutId: Number(a.rollout_id) } : {}),
      ...(a.detail !== null && a.detail !== undefined ? { detail: typeof a.detail === 'string' ? JSON.parse(a.detail) : a.detail } : {}),
    }));
    const r = this.latest;
    if (!r) return { ...(this.stable ? { stable: this.stable } : {}), audit };
    const byNode = new Map(nodeRows.map((n) => [n.node, n]));
    const last = r.policy.waves.length - 1;
    const members = new Map<number, string[]>();
    for (const n of new Set([...this.waves.keys(), ...byNode.keys()])) {
      const w = this.waves.get(n) ?? last;
      members.set(w, [...(members.get(w) ?? []), n]);
    }
    const waves = r.policy.waves.map((w, i) => ({
      index: i,
      name: w.name,
      bakeMs: w.bakeMs,
      state: (r.state === 'done' || i < r.wave ? 'promoted' : i === r.wave ? 'current' : 'waiting') as 'promoted' | 'current' | 'waiting',
      nodes: (members.get(i) ?? []).sort().map((node): RolloutNodeView => {
        const row = byNode.get(node);
        const v = this.versionFor(node);
        return {
          node,
          serves: v === r.to ? 'new' : 'previous',
          status: row?.status ?? 'never reported',
          ...(row?.codeVersion ? { codeVersion: row.codeVersion } : {}),
          ...(row?.lastReportAt ? { lastReportAt: row.lastReportAt } : {}),
        };
      }),
    }));
    return { ...(this.stable ? { stable: this.stable } : {}), rollout: { ...r, waves }, audit };
  }
}

async function audit(q: Q, actor: string, action: string, rolloutId: number | undefined, detail: unknown): Promise<void> {
  await q.query('insert into audit (actor, action, rollout_id, detail) values ($1, $2, $3, $4)', [actor, action, rolloutId ?? null, JSON.stringify(detail)]);
}

async function promote(q: Q, r: Rollout, actor: string, all: boolean): Promise<void> {
  const next = r.wave + 1;
  if (all || next >= r.policy.waves.length) {
    await q.query("update rollouts set state = 'done', active = null, wave = $2, reason = $3, updated_at = now() where id = $1", [
      r.id,
      r.policy.waves.length - 1,
      all ? `every node at once, by ${actor}` : null,
    ]);
    await q.query('update rollout_stable set version = $1, at = now() where id = 1', [r.to]);
    await audit(q, actor, all ? 'promote-all' : 'done', r.id, { from: r.from, to: r.to, wave: r.policy.waves[r.wave]!.name });
    return;
  }
  await q.query("update rollouts set state = 'rolling', wave = $2, wave_started_at = now(), reason = null, updated_at = now() where id = $1", [r.id, next]);
  await audit(q, actor, 'promote', r.id, { from: r.policy.waves[r.wave]!.name, to: r.policy.waves[next]!.name });
}

async function fail(q: Q, r: Rollout, why: string): Promise<void> {
  const state = r.policy.onFailure === 'revert' ? 'reverted' : 'halted';
  await q.query(`update rollouts set state = $2, ${state === 'reverted' ? 'active = null,' : ''} reason = $3, updated_at = now() where id = $1`, [
    r.id,
    state,
    `wave ${r.policy.waves[r.wave]!.name}: ${why}`,
  ]);
  await audit(q, 'server', state === 'reverted' ? 'revert' : 'halt', r.id, { wave: r.policy.waves[r.wave]!.name, reason: why });
}
