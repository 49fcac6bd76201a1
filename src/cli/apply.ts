/** `tsconverge apply [PATH] [--noop]` and `tsconverge plan [PATH]`. */
import path from 'node:path';
import { loadReusingCompile } from '../catalogue/compile-cache.js';
import { createFacts } from '../facts/facts.js';
import { createProviderRegistry } from '../providers/container.js';
import { runCatalogue } from '../engine/run.js';
import { preflightCatalogue } from '../engine/preflight.js';
import { writeReport } from './format.js';
import { loggerFrom, printInputError, type GlobalFlags } from './common.js';
import { EXIT } from './exit.js';
import { redact } from '../core/redact.js';
import { factsForNode } from './fleet.js';
import { acquireRunLock, type RunLock } from '../engine/lock.js';
import { resolveStateDir } from '../core/state-layout.js';
import { TsconvergeError } from '../core/errors.js';

export interface ApplyFlags extends GlobalFlags {
  readonly noop?: boolean;
  readonly format?: 'human' | 'json';
  readonly root?: string;
  readonly concurrency?: number;
  readonly timeout?: number;
  /** Fleet trees only: the node (default: hostname fact), environment, extra facts, secrets. */
  readonly node?: string;
  readonly environment?: string;
  readonly facts?: string;
  readonly secretsDir?: string;
  readonly retries?: number;
  /** Run state (the run lock, last applied state, owed restarts, adoptions): --state-dir, else $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge. */
  readonly stateDir?: string;
  /** apply only: how long to wait for another run's lock. */
  readonly waitForLock?: number;
  /** Replace `stateful: true` containers too. */
  readonly allowReplace?: boolean;
  /** Adopt existing objects tsconverge did not create (engine/ownership.ts). */
  readonly adopt?: boolean;
  /** Read a compiled catalogue document from stdin instead of PATH (the remote side of `tsconverge push`, src/push/wire.ts). */
  readonly catalogueStdin?: boolean;
  /** false (--no-compile-cache): compile PATH every run, neither read nor store the stored compile (src/catalogue/compile-cache.ts). */
  readonly compileCache?: boolean;
}

/**
 * SIGINT/SIGTERM while an apply runs: abort the run's signal (no new resource starts;
 * the ones in flight finish or are cancelled after a grace period), then the report is
 * printed and the lock released, and the command exits 128 + the signal number.
 */
function onInterrupt(log: ReturnType<typeof loggerFrom>): {
  signal: AbortSignal;
  code: () => number | undefined;
  trigger: (sig: NodeJS.Signals) => void;
  dispose: () => void;
} {
  const ctl = new AbortController();
  let code: number | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (code !== undefined) {
      log.warn(`${sig} again: still finishing the resources in flight`);
      return;
    }
    code = sig === 'SIGINT' ? EXIT.INTERRUPTED_SIGINT : EXIT.INTERRUPTED_SIGTERM;
    log.warn(`${sig}: stopping after the resources in flight`);
    ctl.abort(new TsconvergeError('INTERRUPTED', `interrupted by ${sig}`));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ctl.signal,
    code: () => code,
    trigger: handler,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** The run lock; when busy and --wait-for-lock is given, say so, then wait. */
async function takeLock(stateDir: string, waitSeconds: number, signal: AbortSignal, log: ReturnType<typeof loggerFrom>): Promise<RunLock> {
  try {
    return await acquireRunLock(stateDir, { command: 'apply', signal });
  } catch (err) {
    if (waitSeconds === 0 || !(err instanceof TsconvergeError) || err.code !== 'RUN_IN_PROGRESS') throw err;
    log.info(`${err.message}: waiting up to ${waitSeconds} s for it to finish`);
    return acquireRunLock(stateDir, { command: 'apply', waitMs: waitSeconds * 1000, signal });
  }
}

/** A manual apply while the agent is disabled (`tsconverge disable`) runs, but says so: someone paused changes here. */
async function warnIfAgentDisabled(stateDir: string, log: ReturnType<typeof loggerFrom>): Promise<void> {
  const { readDisabled } = await import('../agent/disable.js');
  const d = await readDisabled(stateDir).catch(() => null);
  if (!d) return;
  log.warn(
    `the agent on this host is disabled${d.by ? ` by ${d.by}` : ''}${d.since ? ` since ${d.since}` : ''}${d.reason ? ` (${redact(d.reason)})` : ''}: this manual apply changes the host anyway; the agent stays disabled (tsconverge agent enable resumes it)`,
  );
}

export async function applyCommand(target: string, flags: ApplyFlags): Promise<number> {
  const log = loggerFrom(flags);
  const format = flags.format ?? 'human';
  const root = path.resolve(flags.root ?? '/');
  const providers = createProviderRegistry();
  let catalogue;
  let saveCompile: (() => Promise<void>) | undefined;
  let facts = await createFacts(root);
  const stateDir = resolveStateDir({ stateDir: flags.stateDir, root });
  // --catalogue-stdin (push): the document, then maybe a SIGINT/SIGTERM line from push (src/push/wire.ts).
  let pushed: { trigger?: (sig: NodeJS.Signals) => void; close: () => void } | undefined;
  try {
    if (flags.facts) facts = { ...facts, ...(await factsForNode(undefined, flags.facts)) };
    if (flags.catalogueStdin) {
      const holder: { trigger?: (sig: NodeJS.Signals) => void } = {};
      const ch = (await import('../push/wire.js')).openStdinChannel((sig) => holder.trigger?.(sig));
      pushed = Object.assign(holder, { close: ch.close });
      catalogue = await ch.catalogue;
    } else {
      const loaded = await loadReusingCompile(target, {
        facts,
        node: flags.node,
        environment: flags.environment,
        secrets: { dir: flags.secretsDir },
        stateDir,
        enabled: flags.compileCache !== false,
      });
      log.debug(`catalogue: ${loaded.how}`);
      catalogue = loaded.catalogue;
      // plan and --noop write nothing: only apply stores its compile, after its run.
      if (!flags.noop) saveCompile = loaded.save;
    }
    await preflightCatalogue(catalogue, providers); // cycles, keys this kernel lacks: input errors, nothing runs or is written
  } catch (err) {
    pushed?.close();
    printInputError(err, format);
    return EXIT.NOT_RUN;
  }
  if (!flags.noop) await warnIfAgentDisabled(stateDir, log);
  const interrupt = onInterrupt(log);
  if (pushed) pushed.trigger = interrupt.trigger;
  let lock: RunLock | undefined;
  try {
    if (!flags.noop) {
      try {
        lock = await takeLock(stateDir, flags.waitForLock ?? 0, interrupt.signal, log);
      } catch (err) {
        if (interrupt.code() !== undefined) return interrupt.code()!;
        printInputError(err, format);
        return EXIT.NOT_RUN;
      }
    }
    const ran = await runCatalogue(catalogue, providers, {
      noop: flags.noop ?? false,
      root,
      log,
      facts,
      concurrency: flags.concurrency,
      retries: flags.retries,
      signal: interrupt.signal,
      stateDir,
      allowReplace: flags.allowReplace ?? false,
      adopt: flags.adopt ?? false,
      ...(flags.timeout ? { applyTimeoutMs: flags.timeout * 1000 } : {}),
    });
    // The summary's time is the command's wall time (loading and compiling included), not the engine's part:
    // the process's uptime (the global `performance` would load perf_hooks, 1.4 ms of a one-shot run, for this alone).
    const report = { ...ran, durationMs: Math.round(process.uptime() * 1000) };
    writeReport(report, format, (s) => process.stdout.write(s), redact);
    await saveCompile?.().catch((err: Error) => log.warn(`the compiled catalogue was not stored for the next run: ${redact(err.message)}`));
    return interrupt.code() ?? report.exitCode;
  } finally {
    await lock?.release();
    interrupt.dispose();
    pushed?.close();
  }
}
