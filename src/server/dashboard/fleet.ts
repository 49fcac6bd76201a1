/**
 * The dashboard's view of the fleet: the node rows and statuses of GET /v1/nodes
 * (store.listNodes, the same unresponsive threshold), each node's environment and role
 * as the served fleet code classifies it (site.yaml rules, with its stored facts), its
 * facts and its stored reports (those that pass the report schema). Also the fleet gauges of /metrics.
 */
import path from 'node:path';
import client from 'prom-client';
import { resolveEnvironment } from '../../catalogue/fleet.js';
import { checkSite, classifyNode } from '../../catalogue/classify.js';
import { readYamlTree, type YamlTree } from '../../catalogue/yamltree.js';
import type { Facts } from '../../facts/facts.js';
import type { CodeError, CodeManager } from '../code.js';
import { isValidReport } from '../door.js';
import type { NodeCounts, NodeRow, NodeStatus, NodesPageOptions, Store, StoredReport } from '../store.js';

/**
 * Every status, worst first: the order of the overview's rows and tiles. Failed, then
 * silent (unresponsive), then drift the agents had to repair, then changes waiting in noop,
 * then paused agents; the healthy ones last.
 */
export const STATUSES: readonly NodeStatus[] = [
  'failed',
  'unresponsive',
  'corrective change',
  'noop pending',
  'disabled',
  'never reported',
  'intentional change',
  'unchanged',
];

const rank = (s: NodeStatus): number => {
  const i = STATUSES.indexOf(s);
  return i < 0 ? STATUSES.length : i;
};
const newest = (iso: string | undefined): number => (iso ? -Date.parse(iso) : 0);

/** Triage order: by status (worst first), then the most recent failure, then more failed resources, then the name. */
export function bySeverity(a: NodeRow, b: NodeRow): number {
  return (
    rank(a.status) - rank(b.status) ||
    newest(a.lastFailureAt) - newest(b.lastFailureAt) ||
    (b.failed ?? 0) - (a.failed ?? 0) ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)
  );
}

export interface FleetNode extends NodeRow {
  readonly environment?: string;
  readonly role?: string;
  readonly modules?: readonly string[];
}

export interface NodeDetail {
  readonly node: FleetNode;
  readonly facts?: { readonly facts: unknown; readonly at: string };
  /** The newest stored reports that pass the report schema (door.ts isValidReport). */
  readonly reports: readonly StoredReport[];
  /** Stored reports left out because they do not (rows stored before reports were checked at the door). */
  readonly invalidReports?: number;
}

export interface FleetView {
  readonly unresponsiveAfterMs: number;
  code(): { readonly version?: string; readonly loadedAt?: string; readonly error?: CodeError };
  /** Every node, worst first (bySeverity). */
  nodes(): Promise<FleetNode[]>;
  node(name: string, reports: number): Promise<NodeDetail | undefined>;
  /** The fleet's counts by status, from the store's index (not its rows). */
  counts(): Promise<NodeCounts>;
  /** A page of nodes worst first, filtered in the store (status, part of the name, cached): only its rows are classified. */
  page(o: Omit<NodesPageOptions, 'unresponsiveAfterMs' | 'order'>): Promise<{ nodes: FleetNode[]; more: boolean }>;
  /** The newest `limit` reports of the whole fleet that pass the report schema, newest first. */
  recent(limit: number): Promise<StoredReport[]>;
}

interface Classified {
  readonly environment?: string;
  readonly role?: string;
  readonly modules?: readonly string[];
}

export function createFleetView(opts: { code: CodeManager; store: Store; environment?: string; unresponsiveAfterMs: number }): FleetView {
  const { code, store } = opts;
  let site: { version: string; environment?: string; tree?: YamlTree } | undefined;
  const classified = new Map<string, Classified>();

  async function siteOf(version: string, dir: string): Promise<NonNullable<typeof site>> {
    if (site?.version === version) return site;
    classified.clear();
    try {
      const env = await resolveEnvironment(dir, opts.environment);
      const read = await readYamlTree(path.join(env.dir, 'manifests', 'site.yaml'), { secrets: true, markers: true });
      site = { version, environment: env.name, tree: read.tree && checkSite(read.tree).length === 0 ? read.tree : undefined };
    } catch {
      site = { version };
    }
    return site;
  }

  /** Environment and role from the served code; cached per (code version, node, facts time). */
  async function classify(row: NodeRow): Promise<Classified> {
    const current = code.current;
    if (!current) return {};
    const s = await siteOf(current.version, current.dir);
    const key = `${row.node}\0${row.factsAt ?? ''}`;
    const hit = classified.get(key);
    if (hit) return hit;
    let out: Classified = { environment: s.environment };
    if (s.tree) {
      const facts = row.factsAt ? (await store.getFacts(row.node))?.facts : undefined;
      try {
        const cls = classifyNode(s.tree, row.node, { ...(facts as object), hostname: row.node } as unknown as Facts);
        out = { environment: s.environment, role: cls.role, modules: cls.modules.map((m) => m.name) };
      } catch {
        /* unclassified or conflicting: the node's catalogue fails too; shown without a role */
      }
    }
    if (classified.size > 50_000) classified.clear();
    classified.set(key, out);
    return out;
  }

  const withClass = async (row: NodeRow): Promise<FleetNode> => ({ ...row, ...(await classify(row)) });

  return {
    unresponsiveAfterMs: opts.unresponsiveAfterMs,
    code: () => ({ version: code.current?.version, loadedAt: code.current?.loadedAt, error: code.lastError }),
    async nodes() {
      const rows = await store.listNodes(opts.unresponsiveAfterMs);
      const out: FleetNode[] = [];
      for (const r of rows) out.push(await withClass(r));
      return out.sort(bySeverity);
    },
    counts: () => store.countNodes(opts.unresponsiveAfterMs),
    async page(o) {
      const p = await store.nodesPage({ ...o, unresponsiveAfterMs: opts.unresponsiveAfterMs, order: 'severity' });
      const out: FleetNode[] = [];
      for (const r of p.nodes) out.push(await withClass(r));
      return { nodes: out, more: p.more };
    },
    async recent(limit) {
      return (await store.recentReports(limit)).filter((r) => isValidReport(r.report));
    },
    async node(name, reports) {
      const row = await store.getNode(name, opts.unresponsiveAfterMs);
      if (!row) return undefined;
      const [node, facts, list] = await Promise.all([withClass(row), store.getFacts(name), store.listReports(name, reports)]);
      // Only reports of the shape the pages expect are rendered: an old malformed row never breaks the page.
      const valid = list.filter((r) => isValidReport(r.report));
      return { node, facts, reports: valid, invalidReports: list.length - valid.length };
    },
  };
}

/** Counts by status (every status present, zeros included). */
export function countByStatus(nodes: readonly NodeRow[]): Record<NodeStatus, number> {
  const out = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<NodeStatus, number>;
  for (const n of nodes) out[n.status] = (out[n.status] ?? 0) + 1;
  return out;
}

/** Seconds since the oldest last report among nodes that reported (0 with none). */
export function oldestReportAgeSeconds(nodes: readonly NodeRow[], nowMs = Date.now()): number {
  const times = nodes.map((n) => (n.lastReportAt ? Date.parse(n.lastReportAt) : NaN)).filter((t) => !Number.isNaN(t));
  return times.length ? Math.max(0, (nowMs - Math.min(...times)) / 1000) : 0;
}

/** Fleet gauges on the server's registry, read from the store at each scrape. */
export function registerFleetGauges(registry: client.Registry, store: Store, unresponsiveAfterMs: number): void {
  let snapshot: { at: number; rows: Promise<NodeRow[]> } | undefined;
  // One store read serves the gauges of one scrape.
  const rows = (): Promise<NodeRow[]> => {
    if (!snapshot || Date.now() - snapshot.at > 1000) snapshot = { at: Date.now(), rows: store.listNodes(unresponsiveAfterMs) };
    return snapshot.rows;
  };
  new client.Gauge({
    name: 'tsconverge_nodes',
    help: 'Nodes by status (the status of GET /v1/nodes)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = countByStatus(await rows());
      for (const s of STATUSES) this.set({ status: s }, counts[s]);
    },
  });
  new client.Gauge({
    name: 'tsconverge_nodes_cached_catalogue',
    help: 'Nodes whose last run used the cached (last-known-good) catalogue',
    registers: [registry],
    async collect() {
      this.set((await rows()).filter((n) => n.cachedCatalogue).length);
    },
  });
  new client.Gauge({
    name: 'tsconverge_oldest_report_age_seconds',
    help: 'Age of the oldest last report among the nodes that reported',
    registers: [registry],
    async collect() {
      this.set(oldestReportAgeSeconds(await rows()));
    },
  });
}
