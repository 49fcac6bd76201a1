/**
 * The agent's schedule loop, apart from what a run is: a run at start, then one per
 * interval at the node's splay; SIGHUP asks for a run now (or right after the one in
 * flight); a stop lets the run in flight finish (bounded), then resolves. After every run
 * (and at stop) agent.json is written for `tsconverge status`, then the runner's own
 * publication (the metrics file) in order.
 *
 * Two runners use it (src/cli/agent.ts chooses): a child process per run (child.ts, the
 * default: between runs the agent holds only this loop, the schedule and the logger,
 * 67-71 MB resident instead of 100-200 MB), or the run in this process (one-run.ts,
 * `--in-process`: warm runs, more memory). This module stays light: it must not import
 * the engine, the providers or the catalogue compiler.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'winston';
import type { EventRun, RunOutcome, RunTrigger } from './report.js';
import type { Watcher } from './watch/watcher.js';
import { writeWatchMetrics } from './watch/metrics.js';
import { createSchedule, formatDuration } from './schedule.js';
import { writeAgentInfo } from './status.js';
import { DEFAULTS } from '../core/defaults.js';

/** What the loop needs to know of a finished run. */
export interface RunResult {
  readonly outcome: RunOutcome;
  readonly exitCode: number;
  /** What the run changed, and when it ran: the watcher drops the events of its own changes. */
  readonly changed?: readonly string[];
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** Seconds from the event to the repair, per resource an event repaired. */
  readonly repairSeconds?: readonly number[];
}

export interface Runner<R extends RunResult = RunResult> {
  /** One run; resolves when it is over (its report written). Rejects on a bug (logged; the schedule goes on). */
  run(trigger: RunTrigger, event?: EventRun): Promise<R>;
  /** Abort the run in flight: resources in flight finish, no new one starts. */
  abort(signal: string): void;
  /** After agent.json: publish what the run left (the metrics file); `next` is null when no run is scheduled. */
  publish?(result: R | undefined, next: Date | null): Promise<void>;
}

export interface SupervisorOptions {
  readonly stateDir: string;
  readonly node: string;
  readonly noop: boolean;
  readonly intervalMs: number;
  readonly splayMs: number;
  readonly version: string;
  readonly sourceLabel: string;
  readonly log: Logger;
  readonly applyTimeoutMs?: number;
  /** The metrics file: the watcher's section is added to it after every run. */
  readonly metricsFile?: string;
}

export interface Supervisor {
  /** Run at start, then on schedule, until stop(); resolves with the exit code. */
  start(): Promise<number>;
  /** Ask for a run now, or right after the current one (SIGHUP). */
  requestRun(): void;
  /** Stop: the run in flight finishes its resources in flight and writes its report; then start() resolves. */
  stop(signal?: string): void;
}

const STOP_GRACE_MS = 30_000;

/**
 * A full garbage collection once a run is over and published: what the run's bookkeeping
 * allocated is given back before the agent sits idle (V8's own memory reducer waits for
 * allocation to slow down, and an idle agent allocates nothing to trigger it).
 */
let gc: (() => void) | undefined;
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;

/** agent.json (status.ts): this agent process, its schedule and its next run. */
export function agentInfoOf(opts: SupervisorOptions, startedAt: string, next: Date | null, stoppedAt?: string): Parameters<typeof writeAgentInfo>[1] {
  return {
    pid: process.pid,
    startedAt,
    node: opts.node,
    intervalMs: opts.intervalMs,
    splayMs: opts.splayMs,
    noop: opts.noop,
    source: opts.sourceLabel,
    nextRunAt: next?.toISOString() ?? null,
    version: opts.version,
    ...(stoppedAt ? { stoppedAt } : {}),
  };
}

/** Made by the supervisor with its two ways in: `ready` (marks are due: an event run) and `full` (a gap: run everything). */
export type WatcherFactory = (ready: () => void, full: (why: string) => void, changed: () => void) => Watcher;

export function createSupervisor<R extends RunResult>(opts: SupervisorOptions, runner: Runner<R>, makeWatcher?: WatcherFactory): Supervisor {
  const log = opts.log;
  const startedAt = new Date().toISOString();
  let stopped = false;
  let running: Promise<R> | undefined;
  /** A run asked for while one was in flight: its trigger and kind (a gap's full run stays one). */
  let pending: { trigger: RunTrigger; mode: 'full' | 'gap' } | undefined;
  let eventPending = false;
  let finish: ((code: number) => void) | undefined;

  // Publications are written in order: a stop's "stopped" must not be overtaken by the last run's.
  let publishing: Promise<void> = Promise.resolve();
  function publish(result: R | undefined, next: Date | null, stoppedAt?: string): Promise<void> {
    publishing = publishing.then(async () => {
      try {
        await writeAgentInfo(opts.stateDir, agentInfoOf(opts, startedAt, next, stoppedAt));
        await runner.publish?.(result, next);
        if (watcher && opts.metricsFile && !running) await writeWatchMetrics(opts.metricsFile, watcher.stats);
      } catch (err) {
        log.error(`cannot write the agent state or metrics: ${(err as Error).message}`);
      }
    });
    return publishing;
  }

  const schedule = createSchedule({ intervalMs: opts.intervalMs, splayMs: opts.splayMs, onTick: () => kick('schedule') });

  // The watcher's metrics (events dropped, containers' state) change between runs too: written at most once a second, never over a run's.
  let metricsTimer: NodeJS.Timeout | undefined;
  const watchMetricsChanged = (): void => {
    if (!opts.metricsFile || metricsTimer) return;
    metricsTimer = setTimeout(() => {
      metricsTimer = undefined;
      if (running || stopped || !watcher || !opts.metricsFile) return; // the run's publication writes them
      const file = opts.metricsFile;
      publishing = publishing
        .then(() => writeWatchMetrics(file, watcher.stats))
        .catch((err: unknown) => {
          log.error(`cannot write the metrics: ${(err as Error).message}`);
        });
    }, 1000);
    metricsTimer.unref();
  };
  const watcher = makeWatcher?.(
    () => kick('event', 'event'),
    (why) => {
      log.info(`full run: ${why}`);
      kick('event', 'gap');
    },
    watchMetricsChanged,
  );

  function kick(trigger: RunTrigger, mode: 'full' | 'event' | 'gap' = 'full'): void {
    if (stopped) return;
    if (running) {
      if (mode === 'event') eventPending = true;
      else if (!pending || pending.mode === 'gap') pending = { trigger, mode };
      return;
    }
    let event: EventRun | undefined;
    if (mode === 'event') {
      event = watcher?.take();
      if (!event) return; // only tsconverge's own changes were seen
    } else {
      event = watcher?.takeForSweep();
      if (trigger === 'schedule') watcher?.sweepStarted();
      if (mode === 'full') schedule.stop();
    }
    running = runner.run(trigger, event);
    void running.then(
      async (result) => {
        running = undefined;
        watcher?.finished(trigger, result, result);
        await watcher?.reload().catch((err: unknown) => log.warn(`watch: cannot read the watch list: ${(err as Error).message}`));
        if (stopped) {
          await publish(result, null, new Date().toISOString());
          finish?.(0);
          return;
        }
        if (pending) {
          const p = pending;
          pending = undefined;
          await publish(result, null);
          kick(p.mode === 'gap' ? 'event' : p.trigger === 'schedule' ? 'schedule' : 'signal', p.mode);
          return;
        }
        if (mode !== 'full' && schedule.next) {
          if (eventPending) {
            eventPending = false;
            kick('event', 'event');
          }
          await publish(result, schedule.next);
          return;
        }
        const next = schedule.scheduleNext();
        log.info(`next run at ${next.toISOString()} (in ${formatDuration(next.getTime() - Date.now())})`);
        await publish(result, next);
        if (eventPending) {
          eventPending = false;
          kick('event', 'event');
        }
        collectGarbage();
        const m = process.memoryUsage();
        log.debug(
          `agent memory: rss ${mb(m.rss)}, V8 heap ${mb(m.heapUsed)} used of ${mb(m.heapTotal)}, external ${mb(m.external)}, array buffers ${mb(m.arrayBuffers)}`,
        );
      },
      async (err: unknown) => {
        running = undefined;
        log.error(`run failed unexpectedly: ${(err as Error).stack ?? String(err)}`);
        if (stopped) {
          finish?.(1);
          return;
        }
        const next = mode !== 'full' && schedule.next ? schedule.next : schedule.scheduleNext();
        await publish(undefined, next);
      },
    );
  }

  return {
    requestRun() {
      if (stopped) return;
      log.info(running ? 'SIGHUP: a run is in progress; another run follows it' : 'SIGHUP: run now');
      kick('signal');
    },
    start() {
      return new Promise<number>((resolve) => {
        finish = (code) => {
          schedule.stop();
          resolve(code);
        };
        log.info(
          `agent started: node ${opts.node}, every ${formatDuration(opts.intervalMs)} (splay ${formatDuration(opts.splayMs)}), source ${opts.sourceLabel}, state ${opts.stateDir}${opts.noop ? ', noop' : ''}`,
        );
        kick('start');
        if (watcher) void watcher.start().catch((err: unknown) => log.warn(`watch: ${(err as Error).message}`));
      });
    },
    stop(signal = 'stop') {
      if (stopped) {
        log.warn(`${signal}: already stopping, waiting for the run in flight`);
        return;
      }
      stopped = true;
      schedule.stop();
      watcher?.stop();
      if (!running) {
        log.info(`${signal}: stopping`);
        void publish(undefined, null, new Date().toISOString()).then(() => finish?.(0));
        return;
      }
      runner.abort(signal);
      const bound = (opts.applyTimeoutMs ?? DEFAULTS.applyTimeoutMs) + STOP_GRACE_MS;
      log.info(`${signal}: stopping after the resources in flight finish (at most ${formatDuration(bound)}); no new resource is started`);
      const timer = setTimeout(() => {
        log.error(`the run in flight did not finish within ${formatDuration(bound)}; exiting`);
        finish?.(1);
      }, bound);
      timer.unref();
    },
  };
}
