/**
 * The server's store: PostgreSQL, one set of migrations for both back ends.
 *
 *   embedded   PGlite (@electric-sql/pglite) in STATE_DIR/db: no set-up, one server.
 *   postgres   `--database postgres://...` (the `pg` driver): several replicas share it
 *              and are otherwise stateless.
 *
 * Reports are stored as the agent sent them (JSON); the server reads only the fields of
 * the agent's report contract (node, summary, noop, cachedCatalogue, catalogueError,
 * agent.enabled/disabledReason, resources[].cause, codeVersion) to derive a status.
 * History is bounded: each node keeps its newest `retention` reports (trimmed every
 * ten reports of a node, so at most retention + 9 are on disk between trims).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Pool } from 'pg';
import { TsconvergeError } from '../core/errors.js';
import { BUNDLE } from '../core/bundle.js';

export type NodeStatus = 'unchanged' | 'intentional change' | 'corrective change' | 'failed' | 'noop pending' | 'disabled' | 'unresponsive' | 'never reported';

export interface NodeRow {
  readonly node: string;
  readonly status: NodeStatus;
  readonly disabledReason?: string;
  readonly cachedCatalogue: boolean;
  readonly lastReportAt?: string;
  readonly lastSeenAt?: string;
  readonly catalogueDigest?: string;
  readonly codeVersion?: string;
  readonly factsAt?: string;
  /** Resources failed or skipped, and changed, in the newest report. */
  readonly failed?: number;
  readonly changed?: number;
  /** The newest report that changed something (not a noop), and the newest whose run failed. */
  readonly lastChangeAt?: string;
  readonly lastFailureAt?: string;
  /** The node's volume backups as its last run found them (backup.volume); absent when it declares none. */
  readonly backups?: readonly NodeBackup[];
}

export interface NodeBackup {
  readonly backup: string;
  readonly volume: string;
  readonly lastSuccess: string | null;
  readonly overdue: boolean;
}

/** The backups of a report's backup.volume resources; undefined when the report has no resources (a run that did not happen). */
export function backupsOfReport(report: Record<string, unknown>): NodeBackup[] | undefined {
  if (!Array.isArray(report.resources)) return undefined;
  const out: NodeBackup[] = [];
  for (const r of report.resources as { kind?: unknown; name?: unknown; details?: { backups?: unknown } }[]) {
    if (r?.kind !== 'backup.volume' || !Array.isArray(r.details?.backups)) continue;
    for (const b of r.details.backups as { volume?: unknown; lastSuccess?: unknown; overdue?: unknown }[]) {
      out.push({
        backup: String(r.name),
        volume: String(b.volume),
        lastSuccess: typeof b.lastSuccess === 'string' ? b.lastSuccess : null,
        overdue: b.overdue === true,
      });
    }
  }
  return out;
}

export interface NodeCounts {
  readonly total: number;
  readonly byStatus: Record<NodeStatus, number>;
  readonly cached: number;
}

export interface NodesPageOptions {
  readonly unresponsiveAfterMs: number;
  readonly limit: number;
  readonly after?: string;
  readonly order?: 'name' | 'severity';
  readonly offset?: number;
  readonly status?: NodeStatus;
  /** Part of the name (case-insensitive). */
  readonly q?: string;
  /** Only nodes whose last run used the cached catalogue. */
  readonly cached?: boolean;
}

/** Every status, worst first (the dashboard's order: dashboard/fleet.ts STATUSES is this list). */
export const STATUS_ORDER: readonly NodeStatus[] = [
  'failed',
  'unresponsive',
  'corrective change',
  'noop pending',
  'disabled',
  'never reported',
  'intentional change',
  'unchanged',
];

/** The status GET /v1/nodes shows, in SQL (`cutoff`: the placeholder of the unresponsive cut-off time), as rowOf derives it. */
const statusSql = (cutoff: string): string =>
  `(case when last_report_at is null then 'never reported' when last_report_at < ${cutoff}::timestamptz then 'unresponsive' else status end)`;

/** A node row as GET /v1/nodes shows it. */
function rowOf(r: Record<string, unknown>, unresponsiveAfterMs: number): NodeRow {
  const last = r.last_report_at ? new Date(r.last_report_at as string).getTime() : undefined;
  const status: NodeStatus = last === undefined ? 'never reported' : Date.now() - last > unresponsiveAfterMs ? 'unresponsive' : (r.status as NodeStatus);
  return {
    node: String(r.name),
    status,
    cachedCatalogue: r.cached_catalogue === true,
    ...(r.disabled_reason ? { disabledReason: String(r.disabled_reason) } : {}),
    lastReportAt: iso(r.last_report_at),
    lastSeenAt: iso(r.last_seen),
    factsAt: iso(r.facts_at),
    catalogueDigest: (r.catalogue_digest as string | null) ?? undefined,
    codeVersion: (r.code_version as string | null) ?? undefined,
    ...(r.last_failed !== null && r.last_failed !== undefined ? { failed: Number(r.last_failed), changed: Number(r.last_changed ?? 0) } : {}),
    ...(r.last_change_at ? { lastChangeAt: iso(r.last_change_at) } : {}),
    ...(r.last_failure_at ? { lastFailureAt: iso(r.last_failure_at) } : {}),
    ...(r.backups ? { backups: (typeof r.backups === 'string' ? JSON.parse(r.backups) : r.backups) as NodeBackup[] } : {}),
  };
}

/** The columns of a node row (not the facts: a page of 1,000 nodes does not read 1,000 fact documents). */
const COLUMNS =
  'name, facts_at, last_seen, last_report_at, status, disabled_reason, cached_catalogue, catalogue_digest, code_version, last_failed, last_changed, last_change_at, last_failure_at, backups';

export interface StoredReport {
  readonly id: number;
  readonly node: string;
  readonly receivedAt: string;
  readonly status: string;
  readonly report: unknown;
}

export interface Db {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(sql: string): Promise<void>;
  /** Run `fn` holding the migration lock (one connection). */
  locked<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  /** Run `fn` in one transaction, serialised with every other `transaction` of every replica (an advisory transaction lock). */
  transaction<T>(fn: (db: Pick<Db, 'query'>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One set of migrations, applied in order at start (under an advisory lock, so replicas may start together). */
export const MIGRATIONS: readonly string[] = [
  `create table nodes (
     name text primary key,
     facts jsonb,
     facts_at timestamptz,
     last_seen timestamptz,
     last_report_at timestamptz,
     status text,
     disabled_reason text,
     cached_catalogue boolean not null default false,
     catalogue_digest text,
     code_version text
   );
   create table reports (
     id bigserial primary key,
     node text not null,
     received_at timestamptz not null default now(),
     status text not null,
     report jsonb not null
   );
   create index reports_node_id on reports (node, id desc);`,
  // The dashboard's triage columns, kept per node as reports arrive (filled from the stored reports once).
  `alter table nodes add column last_failed integer, add column last_changed integer,
     add column last_change_at timestamptz, add column last_failure_at timestamptz;
   update nodes set
     last_failed = (select coalesce((r.report->'summary'->>'failed')::int, 0) + coalesce((r.report->'summary'->>'skipped')::int, 0) from reports r where r.node = nodes.name order by r.id desc limit 1),
     last_changed = (select coalesce((r.report->'summary'->>'changed')::int, 0) from reports r where r.node = nodes.name order by r.id desc limit 1),
     last_change_at = (select max(r.received_at) from reports r where r.node = nodes.name and coalesce((r.report->'summary'->>'changed')::int, 0) > 0),
     last_failure_at = (select max(r.received_at) from reports r where r.node = nodes.name and r.status = 'failed');
   create index reports_id_desc on reports (id desc);`,
  // Rollouts (rollout.ts): the version every node has (rollout_stable), each rollout of a new
  // version with its waves' nodes, and the audit trail of what operators and the server decided.
  `create table rollout_stable (
     id integer primary key check (id = 1),
     version text not null,
     at timestamptz not null default now()
   );
   create table rollouts (
     id bigserial primary key,
     from_version text not null,
     to_version text not null,
     state text not null,
     active text unique,
     wave integer not null default 0,
     wave_started_at timestamptz not null default now(),
     policy jsonb not null,
     reason text,
     started_at timestamptz not null default now(),
     updated_at timestamptz not null default now()
   );
   create table rollout_nodes (
     rollout_id bigint not null references rollouts (id) on delete cascade,
     node text not null,
     wave integer not null,
     primary key (rollout_id, node)
   );
   create table audit (
     id bigserial primary key,
     at timestamptz not null default now(),
     actor text not null,
     action text not null,
     rollout_id bigint,
     detail jsonb
   );`,
  // backup.volume (issue 27): each node's backups as its last report found them, for the overview.
  'alter table nodes add column backups jsonb',
  // Issue 31: the fleet's counts by status come from this index alone (an index-only scan,
  // never the rows with their facts); pages of GET /v1/nodes walk the primary key.
  `create index nodes_status_last_report on nodes (status, last_report_at, cached_catalogue);`,
];

export interface StoreOptions {
  /** postgres://... for a real server; undefined for embedded PGlite in `dataDir`. */
  readonly database?: string;
  readonly dataDir: string;
  /** Reports kept per node (default 100). */
  readonly retention?: number;
}

export interface Store {
  readonly kind: 'pglite' | 'postgres';
  /** The database itself, for the rollout state (rollout.ts) that lives beside the nodes. */
  readonly db: Db;
  putFacts(node: string, facts: unknown): Promise<void>;
  getFacts(node: string): Promise<{ facts: unknown; at: string } | undefined>;
  addReport(node: string, report: Record<string, unknown>): Promise<{ id: number; status: NodeStatus }>;
  listReports(node: string, limit: number): Promise<StoredReport[]>;
  /** The newest reports of every node together, newest first (the fleet's recent changes). */
  recentReports(limit: number): Promise<StoredReport[]>;
  /** Every known node; `unresponsiveAfterMs`: no report within that time -> unresponsive. */
  listNodes(unresponsiveAfterMs: number): Promise<NodeRow[]>;
  /** One node's row (undefined: unknown), without reading the others. */
  getNode(node: string, unresponsiveAfterMs: number): Promise<NodeRow | undefined>;
  /**
   * A page of nodes: by name after `after` (keyset on the primary key: the cost of a page
   * does not grow with the fleet; `next` is the cursor of the following page), or worst
   * first (`order: 'severity'` with `offset`; `more` when another page follows), only
   * `status` and names containing `q` when given.
   */
  nodesPage(o: NodesPageOptions): Promise<{ nodes: NodeRow[]; next?: string; more: boolean }>;
  /** How many nodes per status (every status present, zeros included), and on a cached catalogue: from an index. */
  countNodes(unresponsiveAfterMs: number): Promise<NodeCounts>;
  /** Mark a node as seen (a catalogue request). */
  touch(node: string, digest: string, codeVersion: string): Promise<void>;
  close(): Promise<void>;
}

function storeError(message: string, cause: unknown): TsconvergeError {
  return new TsconvergeError('STORE_ERROR', `${message}: ${(cause as Error).message}`, {
    cause,
    hint: 'check --database (postgres://USER:PASS@HOST:PORT/DB) or the state directory',
  });
}

/**
 * PGlite's run-time files (pglite.wasm, initdb.wasm, pglite.data), which it otherwise reads
 * beside its own module: from the single executable's SEA assets (scripts/build-sea.mjs
 * ships them under pglite/), or from TSCONVERGE_PGLITE_ASSETS=DIR when a single-file build
 * ships them beside itself. From node_modules, none are needed.
 */
async function pgliteAssets(): Promise<Record<string, unknown>> {
  let read: ((name: string) => Promise<Uint8Array<ArrayBuffer>>) | undefined;
  const dir = process.env.TSCONVERGE_PGLITE_ASSETS;
  if (dir) read = async (name) => new Uint8Array(await readFile(path.join(dir, name)));
  else if (BUNDLE) {
    const sea = createRequire(import.meta.url)('node:sea') as typeof import('node:sea');
    read = async (name) => new Uint8Array(sea.getAsset(`pglite/${name}`));
  }
  if (!read) return {};
  const [wasm, initdb, data] = await Promise.all([read('pglite.wasm'), read('initdb.wasm'), read('pglite.data')]);
  return {
    pgliteWasmModule: await WebAssembly.compile(wasm),
    initdbWasmModule: await WebAssembly.compile(initdb),
    fsBundle: new Blob([data]),
  };
}

async function openPglite(dataDir: string): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const pg = await PGlite.create({ dataDir: path.join(dataDir, 'db'), ...(await pgliteAssets()) });
  const db: Db = {
    query: async <T>(sql: string, params?: unknown[]) => ({ rows: (await pg.query<T>(sql, params)).rows }),
    exec: async (sql) => {
      await pg.exec(sql);
    },
    locked: (fn) => fn(db),
    // One process holds PGlite: a chain of promises serialises its transactions.
    transaction: <T>(fn: (d: Pick<Db, 'query'>) => Promise<T>): Promise<T> => {
      const run = chain.then(() =>
        pg.transaction((tx) => fn({ query: async <R>(sql: string, params?: unknown[]) => ({ rows: (await tx.query<R>(sql, params)).rows }) })),
      );
      chain = run.then(
        () => undefined,
        () => undefined,
      );
      return run;
    },
    close: () => pg.close(),
  };
  let chain: Promise<void> = Promise.resolve();
  return db;
}

async function openPostgres(url: string): Promise<Db> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  pool.on('error', () => {
    /* a dropped idle client; the next query reconnects */
  });
  const wrap = (q: { query: Pool['query'] }): Pick<Db, 'query' | 'exec'> => ({
    query: async <T>(sql: string, params?: unknown[]) => ({ rows: (await q.query(sql, params)).rows as T[] }),
    exec: async (sql) => {
      await q.query(sql);
    },
  });
  return {
    ...wrap(pool),
    locked: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('select pg_advisory_lock(81400001)');
        try {
          return await fn({
            ...wrap(client as unknown as Pool),
            locked: (f) => f(undefined as never),
            transaction: () => {
              throw new Error('no transaction under the migration lock');
            },
            close: async () => undefined,
          });
        } finally {
          await client.query('select pg_advisory_unlock(81400001)');
        }
      } finally {
        client.release();
      }
    },
    transaction: async (fn) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        try {
          await client.query('select pg_advisory_xact_lock(81400002)');
          const out = await fn(wrap(client as unknown as Pool));
          await client.query('commit');
          return out;
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          throw err;
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function migrate(db: Db): Promise<void> {
  await db.locked(async (d) => {
    await d.exec('create table if not exists schema_migrations (version integer primary key, applied_at timestamptz not null default now())');
    const done = new Set((await d.query<{ version: number }>('select version from schema_migrations')).rows.map((r) => Number(r.version)));
    for (let i = 0; i < MIGRATIONS.length; i++) {
      if (done.has(i + 1)) continue;
      await d.exec(`begin; ${MIGRATIONS[i]}; insert into schema_migrations (version) values (${i + 1}); commit;`);
    }
  });
}

/** The status a report gives its node (docs/server.md, "Status of a node"). */
export function statusOfReport(r: Record<string, unknown>): { status: NodeStatus; disabledReason?: string; cached: boolean } {
  const agent = (r.agent ?? {}) as { enabled?: boolean; disabledReason?: string };
  const summary = (r.summary ?? {}) as { changed?: number; pending?: number; failed?: number; skipped?: number };
  const resources = Array.isArray(r.resources) ? (r.resources as { status?: string; cause?: string }[]) : [];
  const cached = r.cachedCatalogue === true;
  if (agent.enabled === false) return { status: 'disabled', disabledReason: String(agent.disabledReason ?? 'no reason given'), cached };
  if ((summary.failed ?? 0) + (summary.skipped ?? 0) > 0 || (r.catalogueError !== undefined && !cached) || r.exitCode === 1)
    return { status: 'failed', cached };
  if (r.noop === true && (summary.pending ?? 0) > 0) return { status: 'noop pending', cached };
  const changed = resources.filter((x) => x.status === 'changed');
  if (changed.some((x) => x.cause === 'corrective')) return { status: 'corrective change', cached };
  if (changed.length > 0 || (summary.changed ?? 0) > 0) return { status: 'intentional change', cached };
  return { status: 'unchanged', cached };
}

const iso = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : new Date(v as string).toISOString());

export async function openStore(opts: StoreOptions): Promise<Store> {
  let db: Db;
  try {
    db = opts.database ? await openPostgres(opts.database) : await openPglite(opts.dataDir);
    await migrate(db);
  } catch (err) {
    throw storeError(opts.database ? 'cannot open the PostgreSQL store' : `cannot open the embedded store in ${opts.dataDir}`, err);
  }
  const retention = opts.retention ?? 100;
  const sinceTrim = new Map<string, number>();
  return {
    kind: opts.database ? 'postgres' : 'pglite',
    db,
    async putFacts(node, facts) {
      await db.query(
        `insert into nodes (name, facts, facts_at, last_seen) values ($1, $2, now(), now())
        on conflict (name) do update set facts = excluded.facts, facts_at = now(), last_seen = now()`,
        [node, JSON.stringify(facts)],
      );
    },
    async getFacts(node) {
      const r = (await db.query<{ facts: unknown; facts_at: string }>('select facts, facts_at from nodes where name = $1 and facts is not null', [node]))
        .rows[0];
      return r ? { facts: r.facts, at: iso(r.facts_at)! } : undefined;
    },
    async addReport(node, report) {
      const s = statusOfReport(report);
      const id = Number(
        (
          await db.query<{ id: string }>('insert into reports (node, status, report) values ($1, $2, $3) returning id', [
            node,
            s.status,
            JSON.stringify(report),
          ])
        ).rows[0]!.id,
      );
      const summary = (report.summary ?? {}) as { changed?: number; failed?: number; skipped?: number };
      const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
      const changed = num(summary.changed);
      // A run that did not happen (no resources) keeps the backups the last run found.
      const backups = backupsOfReport(report);
      await db.query(
        `insert into nodes (name, last_seen, last_report_at, status, disabled_reason, cached_catalogue, catalogue_digest, code_version, last_failed, last_changed, last_change_at, last_failure_at, backups)
        values ($1, now(), now(), $2, $3, $4, $5, $6, $7, $8, case when $9 then now() end, case when $2 = 'failed' then now() end, $10)
        on conflict (name) do update set last_seen = now(), last_report_at = now(), status = excluded.status, disabled_reason = excluded.disabled_reason,
          cached_catalogue = excluded.cached_catalogue, catalogue_digest = coalesce(excluded.catalogue_digest, nodes.catalogue_digest), code_version = coalesce(excluded.code_version, nodes.code_version),
          last_failed = excluded.last_failed, last_changed = excluded.last_changed,
          last_change_at = coalesce(excluded.last_change_at, nodes.last_change_at), last_failure_at = coalesce(excluded.last_failure_at, nodes.last_failure_at),
          backups = case when $11::boolean then excluded.backups else nodes.backups end`,
        [
          node,
          s.status,
          s.disabledReason ?? null,
          s.cached,
          typeof report.catalogueDigest === 'string' ? report.catalogueDigest : null,
          typeof report.codeVersion === 'string' ? report.codeVersion : null,
          num(summary.failed) + num(summary.skipped),
          changed,
          changed > 0 && report.noop !== true,
          backups?.length ? JSON.stringify(backups) : null,
          backups !== undefined,
        ],
      );
      // History is trimmed every few reports of a node, not on each one (bounded by retention + 10).
      const n = (sinceTrim.get(node) ?? 0) + 1;
      sinceTrim.set(node, n % 10);
      if (n >= 10 || n === 1)
        await db.query('delete from reports where node = $1 and id <= (select id from reports where node = $1 order by id desc offset $2 limit 1)', [
          node,
          retention,
        ]);
      return { id, status: s.status };
    },
    async listReports(node, limit) {
      const rows = (
        await db.query<{ id: string; node: string; received_at: string; status: string; report: unknown }>(
          'select id, node, received_at, status, report from reports where node = $1 order by id desc limit $2',
          [node, Math.min(limit, retention)],
        )
      ).rows;
      return rows.map((r) => ({
        id: Number(r.id),
        node: r.node,
        receivedAt: iso(r.received_at)!,
        status: r.status,
        report: typeof r.report === 'string' ? JSON.parse(r.report) : r.report,
      }));
    },
    async recentReports(limit) {
      const rows = (
        await db.query<{ id: string; node: string; received_at: string; status: string; report: unknown }>(
          'select id, node, received_at, status, report from reports order by id desc limit $1',
          [limit],
        )
      ).rows;
      return rows.map((r) => ({
        id: Number(r.id),
        node: r.node,
        receivedAt: iso(r.received_at)!,
        status: r.status,
        report: typeof r.report === 'string' ? JSON.parse(r.report) : r.report,
      }));
    },
    async listNodes(unresponsiveAfterMs) {
      const rows = (await db.query<Record<string, unknown>>(`select ${COLUMNS} from nodes order by name`)).rows;
      return rows.map((r) => rowOf(r, unresponsiveAfterMs));
    },
    async getNode(node, unresponsiveAfterMs) {
      const r = (await db.query<Record<string, unknown>>(`select ${COLUMNS} from nodes where name = $1`, [node])).rows[0];
      return r ? rowOf(r, unresponsiveAfterMs) : undefined;
    },
    async nodesPage(o) {
      const params: unknown[] = [];
      let cutoff: string | undefined;
      // The cut-off time is a parameter only where a query uses it (PostgreSQL refuses an untyped unused one).
      const status = (): string => statusSql((cutoff ??= (params.push(new Date(Date.now() - o.unresponsiveAfterMs).toISOString()), `$${params.length}`)));
      const where: string[] = [];
      const severity = o.order === 'severity';
      if (o.status) {
        const sql = status();
        params.push(o.status);
        where.push(`${sql} = $${params.length}`);
      }
      if (o.q) {
        params.push(`%${o.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        where.push(`name ilike $${params.length}`);
      }
      if (o.cached) where.push('cached_catalogue');
      if (!severity && o.after !== undefined) {
        params.push(o.after);
        where.push(`name > $${params.length}`);
      }
      let order = 'name';
      if (severity) {
        const sql = status();
        params.push(STATUS_ORDER);
        order = `array_position($${params.length}::text[], ${sql}), date_trunc('milliseconds', last_failure_at) desc nulls last, coalesce(last_failed, 0) desc, name`;
      } // milliseconds: as bySeverity compares the ISO times
      const limit = Math.max(1, Math.min(Math.floor(o.limit), 10_000));
      params.push(limit + 1);
      let sql = `select ${COLUMNS} from nodes ${where.length ? `where ${where.join(' and ')}` : ''} order by ${order} limit $${params.length}`;
      if (severity && o.offset) {
        params.push(Math.max(0, Math.floor(o.offset)));
        sql += ` offset $${params.length}`;
      }
      const rows = (await db.query<Record<string, unknown>>(sql, params)).rows;
      const nodes = rows.slice(0, limit).map((r) => rowOf(r, o.unresponsiveAfterMs));
      const more = rows.length > limit;
      return { nodes, more, ...(more && !severity ? { next: nodes[nodes.length - 1]!.node } : {}) };
    },
    async countNodes(unresponsiveAfterMs) {
      const cutoff = new Date(Date.now() - unresponsiveAfterMs).toISOString();
      const rows = (
        await db.query<{ s: string; cached: boolean; n: string | number }>(
          `select ${statusSql('$1')} as s, cached_catalogue as cached, count(*) as n from nodes group by 1, 2`,
          [cutoff],
        )
      ).rows;
      const byStatus = Object.fromEntries(STATUS_ORDER.map((x) => [x, 0])) as Record<NodeStatus, number>;
      let total = 0;
      let cached = 0;
      for (const r of rows) {
        const n = Number(r.n);
        byStatus[r.s as NodeStatus] = (byStatus[r.s as NodeStatus] ?? 0) + n;
        total += n;
        if (r.cached === true) cached += n;
      }
      return { total, byStatus, cached };
    },
    async touch(node, digest, codeVersion) {
      await db.query(
        `insert into nodes (name, last_seen, catalogue_digest, code_version) values ($1, now(), $2, $3)
        on conflict (name) do update set last_seen = now()`,
        [node, digest, codeVersion],
      );
    },
    close: () => db.close(),
  };
}
