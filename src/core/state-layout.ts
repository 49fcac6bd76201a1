/**
 * The state directory's layout: every file tsconverge keeps on a host between runs, named
 * once. A module that reads or writes one takes its path from `stateLayout(stateDir)`;
 * no other module joins a name onto the state directory. Each record has one module that
 * reads and writes it (the "owner" below); others go through that module.
 *
 * The directory is `--state-dir`, else $TSCONVERGE_STATE_DIR, else
 * `<root>/var/lib/tsconverge` (`resolveStateDir`). The file names on disk are a contract
 * with existing hosts (and with `tsconverge status`, monitoring, docs): never rename one.
 *
 * | path | what it is | owner |
 * |---|---|---|
 * | `run.lock` | who is changing the host now: `{ pid, since, command, start }` | engine/lock.ts |
 * | `run.lock.takeover` | a directory: the mutex under which a stale lock is taken over | engine/lock.ts |
 * | `.run.lock.<pid>.<hex>` | a complete lock before it is linked to `run.lock` | engine/lock.ts |
 * | `applied.json` | per resource, hashes of each declared attribute as last applied: a plan words drift with it | engine/applied-hashes.ts |
 * | `owed.json` | restarts owed to resources whose notifier changed, until they happen | engine/owed.ts |
 * | `adopted.json` | objects adopted (`adopt: true`), by object id | engine/ownership.ts |
 * | `watch.json` | what the watching agent follows until the next run | agent/watch/state.ts |
 * | `event-run-<hex>.json` | what the watcher saw, for the run it starts (removed once read) | agent/watch/state.ts |
 * | `agent_applied.json` | per resource, a digest of its declared state when it last converged: tells an intentional change from a corrective one | agent/change-cause.ts |
 * | `agent.json` | the agent process: pid, schedule, next run | agent/status.ts |
 * | `agent_disabled.json` | present while the agent is disabled: reason, by whom, since | agent/disable.ts |
 * | `reports/<time>-<run id>.json` | every agent run's report, the newest `--keep-reports` | agent/report.ts |
 * | `last_run_summary.json` | the summary of the agent's last run | agent/report.ts |
 * | `last_corrective.json` | the last agent run with corrective changes | agent/report.ts |
 * | `catalogue/last-known-good.json` | the agent's last catalogue that compiled (0600: holds secrets) | agent/cache.ts |
 * | `catalogue/inputs-stamp.json` | the stamp of the inputs the last-known-good was compiled from | agent/cache.ts |
 * | `catalogue/catalogue.json`, `catalogue/catalogue.sig.json` | the server's signed catalogue for this node and its signature (0600) | agent/server-source.ts |
 * | `catalogue/compiled.json` | `apply`'s stored compile, reused while its inputs are unchanged (0600) | catalogue/compile-cache.ts |
 * | `ssl/ca.crt`, `ssl/<node>.key`, `.csr`, `.crt` | the agent's pinned CA, key and certificate for the server | agent/server-source.ts |
 */
import path from 'node:path';

/** --state-dir, else $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge ('/var/lib/tsconverge' when root is '/'). */
export function resolveStateDir(opts: { stateDir?: string; root?: string }): string {
  if (opts.stateDir) return path.resolve(opts.stateDir);
  const env = process.env.TSCONVERGE_STATE_DIR;
  if (env) return path.resolve(env);
  return path.join(path.resolve(opts.root ?? '/'), 'var/lib/tsconverge');
}

/** The agent's TLS files for the catalogue server (agent/server-source.ts). */
export interface SslPaths {
  readonly dir: string;
  /** The CA certificate, pinned at enrolment. */
  readonly ca: string;
  /** The node's private key (0600). */
  readonly key: string;
  /** The node's certificate request. */
  readonly csr: string;
  /** The node's certificate, signed by the CA. */
  readonly cert: string;
}

export interface StateLayout {
  /** The state directory itself. */
  readonly dir: string;

  /** engine/lock.ts: the run lock, `{ pid, since, command, start }`. */
  readonly runLock: string;
  /** engine/lock.ts: the takeover mutex (a directory) of a stale run lock. */
  readonly runLockTakeover: string;
  /** engine/lock.ts: a private, complete lock file before it is linked to `runLock`; `tag` makes it unique. */
  runLockCandidate(tag: string): string;
  /** engine/applied-hashes.ts: hashes of the declared attributes as last applied (drift wording). */
  readonly appliedHashes: string;
  /** engine/owed.ts: restarts owed until they happen. */
  readonly owedRestarts: string;
  /** engine/ownership.ts: adopted objects by id. */
  readonly adoptions: string;

  /** agent/watch/state.ts: what the watching agent follows until the next run. */
  readonly watchList: string;
  /** agent/watch/state.ts: what the watcher saw, for the run it starts; `tag` makes it unique. */
  eventRun(tag: string): string;
  /** agent/change-cause.ts: per resource, the digest of its declared state when it last converged. */
  readonly convergedDigests: string;
  /** agent/status.ts: the agent process and its next run. */
  readonly agentProcess: string;
  /** agent/disable.ts: present while the agent is disabled. */
  readonly agentDisabled: string;
  /** agent/report.ts: the agent's run reports, one file per run. */
  readonly reports: string;
  /** agent/report.ts: the summary of the last run. */
  readonly lastRunSummary: string;
  /** agent/report.ts: the last run with corrective changes. */
  readonly lastCorrective: string;

  /** The directory of the catalogues kept on the host (0700: they hold secrets). */
  readonly catalogueDir: string;
  /** agent/cache.ts: the last-known-good catalogue. */
  readonly lastKnownGood: string;
  /** agent/cache.ts: the stamp of the inputs the last-known-good was compiled from. */
  readonly inputsStamp: string;
  /** agent/server-source.ts: the server's signed catalogue for this node, as received. */
  readonly serverCatalogue: string;
  /** agent/server-source.ts: its signature, signer and etag. */
  readonly serverCatalogueSignature: string;
  /** catalogue/compile-cache.ts: `apply`'s stored compile. */
  readonly storedCompile: string;

  /** agent/server-source.ts: the agent's TLS files for `node`. */
  ssl(node: string): SslPaths;
}

/** The named paths of the state directory `stateDir` (see the table above). */
export function stateLayout(stateDir: string): StateLayout {
  const at = (...parts: string[]): string => path.join(stateDir, ...parts);
  const catalogueDir = at('catalogue');
  const sslDir = at('ssl');
  return Object.freeze({
    dir: stateDir,
    runLock: at('run.lock'),
    runLockTakeover: at('run.lock.takeover'),
    runLockCandidate: (tag: string) => at(`.run.lock.${tag}`),
    appliedHashes: at('applied.json'),
    owedRestarts: at('owed.json'),
    adoptions: at('adopted.json'),
    watchList: at('watch.json'),
    eventRun: (tag: string) => at(`event-run-${tag}.json`),
    convergedDigests: at('agent_applied.json'),
    agentProcess: at('agent.json'),
    agentDisabled: at('agent_disabled.json'),
    reports: at('reports'),
    lastRunSummary: at('last_run_summary.json'),
    lastCorrective: at('last_corrective.json'),
    catalogueDir,
    lastKnownGood: path.join(catalogueDir, 'last-known-good.json'),
    inputsStamp: path.join(catalogueDir, 'inputs-stamp.json'),
    serverCatalogue: path.join(catalogueDir, 'catalogue.json'),
    serverCatalogueSignature: path.join(catalogueDir, 'catalogue.sig.json'),
    storedCompile: path.join(catalogueDir, 'compiled.json'),
    ssl: (node: string): SslPaths => ({
      dir: sslDir,
      ca: path.join(sslDir, 'ca.crt'),
      key: path.join(sslDir, `${node}.key`),
      csr: path.join(sslDir, `${node}.csr`),
      cert: path.join(sslDir, `${node}.crt`),
    }),
  });
}
