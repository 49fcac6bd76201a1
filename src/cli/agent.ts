/**
 * `tsconverge agent [--manifests PATH] ...` (the long-running agent), `tsconverge agent
 * disable --reason "..."`, `tsconverge agent enable` and `tsconverge status`: what they do.
 * Their command line (options, defaults, registration) is src/cli/commands/agent.ts and
 * src/cli/commands/status.ts. Flags are resolved here once; src/agent only sees the
 * resolved options. A run in this process is ./agent-run.ts.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { createLogger } from '../core/log.js';
import { EXIT } from './exit.js';
import { BUNDLE } from '../core/bundle.js';
import { fail, withSignals, type AgentFlags } from './agent-common.js';
import type { WatchOptions as WatchSettings } from '../agent/watch/watcher.js';

const pkg = BUNDLE ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string });

export async function agentCommand(flags: AgentFlags): Promise<number> {
  // Runs in this process: --onetime, --in-process, or one run (--worker) of a parent agent.
  // The agent process itself only schedules (superviseChildren): the single executable
  // starts it from a bundle without ./agent-run.js (scripts/build-sea.mjs, AGENT_BUNDLE).
  const inProcess = flags.onetime || flags.worker || flags.inProcess ? await import('./agent-run.js') : undefined;
  const worker = flags.worker ? inProcess!.workerSide() : undefined;
  const log = createLogger({ format: flags.logFormat, level: flags.logLevel, ...(flags.journald ? { journald: true } : {}) });
  const { parseDuration } = await import('../agent/schedule.js');
  const root = path.resolve(flags.root);
  const stateDir = resolveStateDir({ stateDir: flags.stateDir, root });
  let intervalMs: number;
  let splayLimitMs: number;
  let lockWaitMs: number;
  let watch: WatchSettings | undefined;
  try {
    intervalMs = parseDuration(flags.interval);
    if (intervalMs < 1000) throw new TsconvergeError('INVALID_VALUE', `--interval ${flags.interval} is shorter than 1s`, { terminal: true });
    splayLimitMs = flags.splayLimit === undefined ? intervalMs : parseDuration(flags.splayLimit, '--splay-limit');
    lockWaitMs = parseDuration(flags.lockWait, '--lock-wait');
    // Watching belongs to the agent that stays: not to one run (--onetime, --worker).
    if (flags.watch !== false && !flags.onetime && !flags.worker) {
      const { engineSocket } = await import('../providers/docker/engine-api.js');
      const socket = engineSocket();
      watch = {
        stateDir,
        root,
        log,
        ...(socket ? { dockerSocket: socket } : {}),
        debounceMs: parseDuration(flags.watchDebounce ?? '2s', '--watch-debounce'),
        burst: Math.max(1, flags.watchBurst ?? 5),
        everyMs: parseDuration(flags.watchEvery ?? '30s', '--watch-every'),
        maxRuns: flags.watchMax ?? 20,
      };
    }
  } catch (err) {
    return fail(err);
  }
  if (!inProcess) return superviseChildren(flags, { root, stateDir, intervalMs, splayLimitMs, log, watch });
  return inProcess.runInProcess(flags, {
    root,
    stateDir,
    intervalMs,
    splayLimitMs,
    lockWaitMs,
    log,
    worker,
    version: pkg.version,
    ...(watch ? { watch } : {}),
  });
}

/**
 * The agent process when runs happen in child processes (the default): it validates the
 * flags, then holds only the schedule loop, the logger and agent.json; every run is
 * `tsconverge <the same arguments> --worker TRIGGER` (src/agent/child.ts).
 */
async function superviseChildren(
  flags: AgentFlags,
  r: { root: string; stateDir: string; intervalMs: number; splayLimitMs: number; log: ReturnType<typeof createLogger>; watch: WatchSettings | undefined },
): Promise<number> {
  // This process only schedules and logs: V8's optimising tiers would compile (and keep
  // resident) machine code for nothing. Measured: 77 -> 69 MB idle (README, "Agent benchmarks").
  // The runs, in fresh child processes, keep Node's defaults.
  for (const f of ['--no-opt', '--no-maglev', '--no-sparkplug']) setFlagsFromString(f);
  const { splayFor } = await import('../agent/schedule.js');
  const { checkSourceSelection } = await import('../agent/source-check.js');
  const { createSupervisor } = await import('../agent/supervisor.js');
  const { createChildRunner } = await import('../agent/child.js');
  const { createWatcher } = await import('../agent/watch/watcher.js');
  // The node name as the hostname fact (src/facts/facts.ts) gives it, without loading the facts.
  const node = flags.node ?? hostname().split('.')[0]!;
  try {
    // The flags of the source are checked here, once, so a bad one stops the agent at start.
    checkSourceSelection({
      stateDir: r.stateDir,
      ...(flags.manifests ? { manifests: path.resolve(flags.manifests) } : {}),
      ...(flags.node ? { node: flags.node } : {}),
      ...(flags.server ? { node, server: { servers: flags.server, caFingerprint: flags.caFingerprint, caFile: flags.caFile } } : {}),
    });
  } catch (err) {
    return fail(err);
  }
  const supervisor = createSupervisor(
    {
      stateDir: r.stateDir,
      node,
      noop: flags.noop ?? false,
      intervalMs: r.intervalMs,
      splayMs: splayFor(node, Math.min(r.splayLimitMs, r.intervalMs)),
      version: pkg.version,
      sourceLabel: flags.manifests ? path.resolve(flags.manifests) : flags.server ? flags.server.join(', ') : '(none)',
      log: r.log,
      ...(flags.timeout ? { applyTimeoutMs: flags.timeout * 1000 } : {}),
      ...(flags.metricsFile ? { metricsFile: path.resolve(flags.metricsFile) } : {}),
    },
    createChildRunner({ args: process.argv.slice(2), log: r.log, stateDir: r.stateDir }),
    r.watch ? (ready, full, changed) => createWatcher(r.watch!, ready, full, changed) : undefined,
  );
  return withSignals({ stop: (sig) => supervisor.stop(sig), requestRun: () => supervisor.requestRun() }, () => supervisor.start());
}

/** --state-dir and --root (src/cli/commands/agent.ts agentStateOptions). */
export interface StateFlags {
  readonly stateDir?: string;
  readonly root: string;
}

const stateDirOf = (f: StateFlags): string => resolveStateDir({ stateDir: f.stateDir, root: path.resolve(f.root) });

export async function disableCommand(flags: StateFlags & { reason: string }): Promise<number> {
  const { disableAgent } = await import('../agent/disable.js');
  try {
    const d = await disableAgent(stateDirOf(flags), flags.reason);
    process.stdout.write(`agent disabled by ${d.by} since ${d.since}: ${d.reason}\nruns are skipped until \`tsconverge agent enable\`\n`);
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function enableCommand(flags: StateFlags): Promise<number> {
  const { enableAgent } = await import('../agent/disable.js');
  const prior = await enableAgent(stateDirOf(flags));
  process.stdout.write(prior ? `agent enabled (was disabled by ${prior.by} since ${prior.since}: ${prior.reason})\n` : 'agent enabled (it was not disabled)\n');
  return EXIT.OK;
}

export async function statusCommand(flags: StateFlags & { format: 'human' | 'json' }): Promise<number> {
  const { readStatus, formatStatus } = await import('../agent/status.js');
  const s = await readStatus(stateDirOf(flags));
  process.stdout.write(flags.format === 'json' ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
  return EXIT.OK;
}
