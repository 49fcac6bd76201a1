/**
 * What the agent process that schedules (agent.ts) and a run in this process (agent-run.ts)
 * share: the signals and the one-line error of a flag or source that cannot be used.
 */
import { TsconvergeError } from '../core/errors.js';
import { EXIT } from './exit.js';

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
