/**
 * One agent run against catalogue servers: facts -> catalogue (fresh, or the cached
 * last-known-good when no server answers) -> converge -> report to the server.
 * No catalogue at all (no server answered and nothing cached, or a refused catalogue with
 * no good cache) -> exit 1 and nothing changes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomic } from '../server/ca.js';
import type winston from 'winston';
import { createProviderRegistry } from '../container.js';
import { acquireRunLock } from '../engine/lock.js';
import { createGraph } from '../engine/graph.js';
import { runCatalogue } from '../engine/run.js';
import { TsconvergeError, toTsconvergeError } from '../engine/errors.js';
import type { Report } from '../engine/report.js';
import { createFacts } from '../providers/facts.js';
import { ServerSource, type ServerSourceOptions } from './server-source.js';

export interface ServerRunOptions extends Omit<ServerSourceOptions, 'node'> {
  readonly node?: string;
  readonly root: string;
  readonly noop: boolean;
  readonly log: winston.Logger;
  readonly concurrency?: number;
}

/** The agent's run report: the engine's report plus the agent contract's fields. */
export interface ServerRunReport extends Partial<Omit<Report, 'exitCode'>> {
  readonly formatVersion: 1;
  readonly node: string;
  readonly catalogueDigest?: string;
  readonly cachedCatalogue: boolean;
  readonly catalogueError?: Record<string, unknown>;
  readonly codeVersion?: string;
  readonly agent: { readonly enabled: boolean; readonly disabledReason?: string };
  readonly exitCode: 0 | 1 | 2 | 4 | 6;
}

export async function runFromServer(opts: ServerRunOptions): Promise<ServerRunReport> {
  // A run that changes the host holds the run lock; noop does not need it.
  const lock = opts.noop ? undefined : await acquireRunLock(opts.stateDir, { command: 'agent --server' });
  try { return await runLocked(opts); } finally { await lock?.release(); }
}

async function runLocked(opts: ServerRunOptions): Promise<ServerRunReport> {
  const root = path.resolve(opts.root);
  const facts = await createFacts(root);
  const node = opts.node ?? facts.hostname;
  const source = new ServerSource({ ...opts, node });
  const signal = new AbortController().signal;
  let loaded;
  try {
    loaded = await source.load(facts, signal);
  } catch (err) {
    const e = toTsconvergeError(err);
    opts.log.error(`no catalogue to run: ${e.format()}`);
    const report: ServerRunReport = { formatVersion: 1, node, cachedCatalogue: false, catalogueError: e.toJSON(), agent: { enabled: true }, exitCode: 1, noop: opts.noop, startedAt: new Date().toISOString() };
    // A refused certificate cannot report; anything else tries (the server may be back).
    if (e.code !== 'CERT_REFUSED') await source.sendReport(report);
    return report;
  }
  if (loaded.cached) opts.log.warn(`running on the cached catalogue ${loaded.digest.slice(0, 19)}: ${loaded.error?.message ?? 'no fresh catalogue'}`);
  // A change made while running the catalogue last applied repairs drift (corrective); one from a new catalogue is intentional.
  const appliedFile = path.join(opts.stateDir, 'catalogue', 'applied.json');
  const applied = await readFile(appliedFile, 'utf8').then((t) => (JSON.parse(t) as { digest?: string }).digest, () => undefined);
  const cause = applied === loaded.digest ? 'corrective' : 'intentional';
  const providers = createProviderRegistry();
  let engine: Report;
  try {
    createGraph(loaded.catalogue, providers);
    engine = await runCatalogue(loaded.catalogue, providers, { noop: opts.noop, root, log: opts.log, facts, concurrency: opts.concurrency });
  } catch (err) {
    const e = err instanceof TsconvergeError ? err : toTsconvergeError(err);
    const report: ServerRunReport = { formatVersion: 1, node, catalogueDigest: loaded.digest, cachedCatalogue: loaded.cached, catalogueError: e.toJSON(), codeVersion: loaded.codeVersion, agent: { enabled: true }, exitCode: 1 };
    await source.sendReport(report);
    return report;
  }
  if (!opts.noop && engine.summary.failed === 0) await writeAtomic(appliedFile, JSON.stringify({ digest: loaded.digest, at: new Date().toISOString() }) + '\n', 0o600);
  const report: ServerRunReport = {
    ...engine, resources: engine.resources.map((r) => (r.status === 'changed' ? { ...r, cause } : r)), node, catalogueDigest: loaded.digest, cachedCatalogue: loaded.cached, codeVersion: loaded.codeVersion, agent: { enabled: true },
    ...(loaded.error ? { catalogueError: loaded.error.toJSON() } : {}),
  };
  const sent = await source.sendReport(report);
  if (sent) opts.log.warn(`the run report was not delivered: ${sent.message}`);
  return report;
}
