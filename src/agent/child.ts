/**
 * A run in a child process of the agent (the default runner of src/agent/supervisor.ts).
 *
 * Why: a run loads the engine, the Docker client, ajv's validators and the catalogue
 * compiler; once loaded, V8's heap reserve, the compiled code and the executable's pages
 * they touched stay resident (150-200 MB over hundreds of runs). A run in a child gives
 * all of it back when the child exits, so between runs (30 minutes by default) the agent
 * keeps only the schedule, the logger and agent.json: 67-71 MB (README, "Agent
 * benchmarks"). The price: each run starts a process and loads its modules (about
 * 0.1-0.5 s, against a 30-minute interval).
 *
 * The child is this same program (`tsconverge agent ... --worker TRIGGER`, the same flags):
 * it takes the run lock, runs once, writes the report and the metrics file, and prints
 * on file descriptor 3 "ready" once its signal handlers are in place (a stop asked for
 * before that is held, then forwarded), then its result as one JSON line. Its stderr is the agent's (the journal
 * under systemd). A stop is forwarded as SIGTERM: the child lets the resources in flight
 * finish, writes the report, releases the lock. A child whose parent is gone (kill -9)
 * stops the same way.
 */
import { spawn } from 'node:child_process';
import { isSea } from 'node:sea';
import type { Logger } from 'winston';
import type { EventRun, RunOutcome, RunTrigger } from './report.js';
import { writeEventRun } from './watch/state.js';
import type { Runner, RunResult } from './supervisor.js';

/** What the child prints on fd 3. */
export interface WorkerResult extends RunResult {
  readonly runId: string;
  readonly durationMs: number;
}

export const WORKER_FD = 3;

export function createChildRunner(opts: { readonly args: readonly string[]; readonly log: Logger; readonly stateDir: string }): Runner<WorkerResult> {
  const runs: Record<RunOutcome, number> = { run: 0, skipped: 0, 'not-run': 0 };
  let child: ReturnType<typeof spawn> | undefined;
  let aborted = false;
  /** The child has taken its signals (its first line on fd 3): a stop can be forwarded. */
  let ready = false;
  // The executable re-runs itself; `node bin/tsconverge.js` needs its script (and Node's own flags) again.
  const command = isSea() ? [] : [...process.execArgv, process.argv[1]!];
  return {
    async run(trigger: RunTrigger, event?: EventRun) {
      // What the watcher saw goes in a 0600 file, never on the command line.
      const eventFile = event ? await writeEventRun(opts.stateDir, event) : undefined;
      return new Promise<WorkerResult>((resolve, reject) => {
        const argv = [
          ...command,
          ...opts.args,
          '--worker',
          trigger,
          '--worker-runs',
          JSON.stringify(runs),
          ...(eventFile ? ['--worker-event', eventFile] : []),
        ];
        const c = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
        child = c;
        ready = false;
        let out = '';
        const results = c.stdio[WORKER_FD] as NodeJS.ReadableStream;
        results.setEncoding('utf8');
        results.on('data', (d: string) => {
          out += d;
          if (!ready && out.startsWith('ready\n')) {
            ready = true;
            out = out.slice('ready\n'.length);
            if (aborted) c.kill('SIGTERM');
          }
        });
        c.on('error', reject);
        c.on('close', (code, signal) => {
          child = undefined;
          let result: WorkerResult | undefined;
          try {
            result = JSON.parse(out) as WorkerResult;
          } catch {
            /* no result: reported below */
          }
          if (!result && aborted && signal === 'SIGTERM') {
            // Stopped before it had installed its handler: it had not taken the lock nor started the run.
            opts.log.info(`the run's process (pid ${c.pid}) stopped before its run started`);
            resolve({ outcome: 'not-run', exitCode: 1, runId: '', durationMs: 0 });
            return;
          }
          if (!result) {
            reject(
              new Error(
                `the run's process (pid ${c.pid}) ended ${signal ? `by ${signal}` : `with exit code ${code}`} without a result; its messages are above`,
              ),
            );
            return;
          }
          runs[result.outcome]++;
          resolve(result);
        });
      });
    },
    abort(signal: string) {
      aborted = true;
      if (child?.pid && ready) {
        opts.log.debug(`${signal}: asking the run's process (pid ${child.pid}) to stop`);
        child.kill('SIGTERM');
      }
    },
  };
}
