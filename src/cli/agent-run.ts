/**
 * `tsconverge agent` when the runs happen in this process: `--onetime`, `--in-process`, and
 * one run of a parent agent (`--worker`, src/agent/child.ts). Loaded only on those paths:
 * the agent process that schedules child runs never loads the engine, the providers or the
 * compiler (scripts/build-sea.mjs leaves this module out of its agent bundle).
 */
import path from 'node:path';
import { fstatSync, writeSync } from 'node:fs';
import type { createLogger } from '../core/log.js';
import { WORKER_FD } from '../agent/child.js';
import { splayFor } from '../agent/schedule.js';
import { fail, withSignals, type AgentFlags } from './agent-common.js';

export interface InProcessContext {
  readonly root: string;
  readonly stateDir: string;
  readonly intervalMs: number;
  readonly splayLimitMs: number;
  readonly lockWaitMs: number;
  readonly log: ReturnType<typeof createLogger>;
  readonly worker: ReturnType<typeof workerSide> | undefined;
  readonly version: string;
  readonly watch?: import('../agent/watch/watcher.js').WatchOptions;
}

export async function runInProcess(flags: AgentFlags, ctx: InProcessContext): Promise<number> {
  const { root, stateDir, intervalMs, splayLimitMs, lockWaitMs, log, worker } = ctx;
  const { createFacts } = await import('../facts/facts.js');
  const { createProviderRegistry } = await import('../providers/container.js');
  const { preflightCatalogue } = await import('../engine/preflight.js');
  const { createCatalogueSource } = await import('../agent/source.js');
  const { createAgent, runWindowOf } = await import('../agent/one-run.js');
  const { takeEventRun } = await import('../agent/watch/state.js');
  const providers = createProviderRegistry();
  const node = flags.node ?? (await createFacts(root)).hostname;
  let source;
  try {
    source = createCatalogueSource(
      {
        stateDir,
        ...(flags.manifests ? { manifests: path.resolve(flags.manifests) } : {}),
        ...(flags.node ? { node: flags.node } : {}),
        ...(flags.environment ? { environment: flags.environment } : {}),
        ...(flags.secretsDir ? { secretsDir: flags.secretsDir } : {}),
        ...(flags.server
          ? {
              node,
              server: {
                servers: flags.server,
                caFingerprint: flags.caFingerprint,
                caFile: flags.caFile,
                joinToken: flags.joinToken,
                connectTimeoutMs: (flags.connectTimeout ?? 5) * 1000,
                waitForCertMs: (flags.waitForCert ?? 0) * 1000,
              },
            }
          : {}),
      },
      async (c) => {
        await preflightCatalogue(c, providers);
      },
    );
  } catch (err) {
    return fail(err);
  }
  // The splay is at most the interval: slots repeat every interval.
  const splayMs = splayFor(node, Math.min(splayLimitMs, intervalMs));
  const agent = createAgent({
    stateDir,
    root,
    node,
    source,
    sourceLabel: flags.manifests ? path.resolve(flags.manifests) : flags.server ? flags.server.join(', ') : '(none)',
    providers,
    log,
    ...('sendReport' in source ? { onReport: (r: unknown) => source.sendReport(r) } : {}),
    facts: () => createFacts(root),
    noop: flags.noop ?? false,
    intervalMs,
    splayMs,
    version: ctx.version,
    ...(flags.metricsFile ? { metricsFile: path.resolve(flags.metricsFile) } : {}),
    keepReports: Math.max(1, flags.keepReports),
    lockWaitMs,
    ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
    ...(flags.timeout ? { applyTimeoutMs: flags.timeout * 1000 } : {}),
    ...(flags.retries !== undefined ? { retries: flags.retries } : {}),
    ...(flags.workerRuns ? { runsBefore: JSON.parse(flags.workerRuns) as Record<string, number> } : {}),
    ...(ctx.watch ? { watch: ctx.watch } : {}),
  });
  if (worker && flags.worker) {
    try {
      worker.attach(agent);
      const event = flags.workerEvent ? await takeEventRun(flags.workerEvent) : undefined;
      const r = await agent.once(flags.worker, 'worker', event);
      worker.result({ outcome: r.outcome, exitCode: r.exitCode, runId: r.runId, durationMs: r.durationMs, ...runWindowOf(r) });
      return r.exitCode;
    } finally {
      worker.close();
    }
  }
  return withSignals(agent, async () => (flags.onetime ? (await agent.once()).exitCode : await agent.start()));
}

/**
 * One run for a parent agent (src/agent/child.ts). Its signals are taken first thing, then
 * "ready" goes to fd 3 (the parent holds a stop until then): SIGTERM (the parent's stop)
 * lets the resources in flight finish; SIGINT and SIGHUP are the parent's to handle (a
 * terminal's Ctrl-C reaches both). A parent that is gone stops the run the same way. The
 * result goes to fd 3 as one JSON line.
 */
export function workerSide(fd: number = WORKER_FD): { attach(agent: { stop(signal: string): void }): void; result(r: object): void; close(): void } {
  let target: { stop(signal: string): void } | undefined;
  let requested: string | undefined;
  const stop = (why: string): void => {
    requested ??= why;
    target?.stop(why);
  };
  const onTerm = (): void => stop('SIGTERM');
  const ignore = (): void => undefined;
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', ignore);
  process.on('SIGHUP', ignore);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) stop('the agent process is gone');
  }, 1000);
  watch.unref();
  const st = fstatSync(fd, { throwIfNoEntry: false });
  const out = st?.isSocket() || st?.isFIFO() ? fd : undefined;
  if (out !== undefined) writeSync(out, 'ready\n');
  return {
    attach(agent) {
      target = agent;
      if (requested) agent.stop(requested);
    },
    result(r) {
      if (out !== undefined) writeSync(out, JSON.stringify(r) + '\n');
    },
    close() {
      clearInterval(watch);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', ignore);
      process.off('SIGHUP', ignore);
    },
  };
}
