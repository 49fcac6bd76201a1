/**
 * What the agent process that schedules (agent.ts) and a run in this process (agent-run.ts)
 * share: the signals and the one-line error of a flag or source that cannot be used.
 */
import { TsconvergeError } from '../core/errors.js';
import { EXIT } from './exit.js';
import type { LogFormat } from '../core/log.js';
import type { RunTrigger } from '../agent/report.js';

/** The agent's flags as src/cli/commands/agent.ts defines them, shared with the in-process run (agent-run.ts). */
export interface AgentFlags {
  readonly manifests?: string;
  readonly node?: string;
  readonly environment?: string;
  readonly secretsDir?: string;
  readonly interval: string;
  readonly splayLimit?: string;
  readonly onetime?: boolean;
  readonly noop?: boolean;
  readonly stateDir?: string;
  readonly root: string;
  readonly metricsFile?: string;
  readonly keepReports: number;
  readonly lockWait: string;
  readonly concurrency?: number;
  readonly timeout?: number;
  readonly retries?: number;
  readonly journald?: boolean;
  /** The catalogue server source (src/agent/server-source.ts). */
  readonly server?: string[];
  readonly caFingerprint?: string;
  readonly caFile?: string;
  readonly joinToken?: string;
  readonly connectTimeout?: number;
  readonly waitForCert?: number;
  readonly logFormat?: LogFormat;
  readonly logLevel?: string;
  /** Run every run inside the agent process (warm runs, more memory) instead of a child process per run. */
  readonly inProcess?: boolean;
  /** Internal: this process is one run of a parent agent (src/agent/child.ts), with the parent's run counts. */
  readonly worker?: RunTrigger;
  readonly workerRuns?: string;
  /** Internal: the file of what the watcher saw, for a run started by events (src/agent/watch). */
  readonly workerEvent?: string;
  /** Watch between runs (`--no-watch`: false). */
  readonly watch?: boolean;
  readonly watchDebounce?: string;
  readonly watchBurst?: number;
  readonly watchEvery?: string;
  readonly watchMax?: number;
}

export function fail(err: unknown): number {
  if (!(err instanceof TsconvergeError)) throw err;
  process.stderr.write(`error: ${err.format()}\n`);
  return EXIT.NOT_RUN;
}

/** SIGTERM/SIGINT stop, SIGHUP asks for a run, while `body` runs. */
export async function withSignals(target: { stop(sig: string): void; requestRun(): void }, body: () => Promise<number>): Promise<number> {
  const onStop = (sig: NodeJS.Signals): void => target.stop(sig);
  const onHup = (): void => target.requestRun();
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  try {
    return await body();
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
}
