/**
 * `tsconverge agent [--manifests PATH] ...` (the long-running agent), `tsconverge agent
 * disable --reason "..."`, `tsconverge agent enable` and `tsconverge status`.
 * Flags are resolved here once; src/agent only sees the resolved options.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Option, InvalidArgumentError, type Command } from 'commander';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { createLogger } from '../core/log.js';
import { EXIT } from './exit.js';
import { BUNDLE } from '../core/bundle.js';
import { fail, withSignals, type AgentFlags } from './agent-common.js';
import type { WatchOptions as WatchSettings } from '../agent/watch/watcher.js';

const pkg = BUNDLE ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string });


function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
}

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
        stateDir, root, log,
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
  return inProcess.runInProcess(flags, { root, stateDir, intervalMs, splayLimitMs, lockWaitMs, log, worker, version: pkg.version, ...(watch ? { watch } : {}) });
}

/**
 * The agent process when runs happen in child processes (the default): it validates the
 * flags, then holds only the schedule loop, the logger and agent.json; every run is
 * `tsconverge <the same arguments> --worker TRIGGER` (src/agent/child.ts).
 */
async function superviseChildren(flags: AgentFlags, r: { root: string; stateDir: string; intervalMs: number; splayLimitMs: number; log: ReturnType<typeof createLogger>; watch: WatchSettings | undefined }): Promise<number> {
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
      stateDir: r.stateDir, ...(flags.manifests ? { manifests: path.resolve(flags.manifests) } : {}), ...(flags.node ? { node: flags.node } : {}),
      ...(flags.server ? { node, server: { servers: flags.server, caFingerprint: flags.caFingerprint, caFile: flags.caFile } } : {}),
    });
  } catch (err) {
    return fail(err);
  }
  const supervisor = createSupervisor({
    stateDir: r.stateDir, node, noop: flags.noop ?? false, intervalMs: r.intervalMs, splayMs: splayFor(node, Math.min(r.splayLimitMs, r.intervalMs)),
    version: pkg.version, sourceLabel: flags.manifests ? path.resolve(flags.manifests) : flags.server ? flags.server.join(', ') : '(none)', log: r.log,
    ...(flags.timeout ? { applyTimeoutMs: flags.timeout * 1000 } : {}),
    ...(flags.metricsFile ? { metricsFile: path.resolve(flags.metricsFile) } : {}),
  }, createChildRunner({ args: process.argv.slice(2), log: r.log, stateDir: r.stateDir }), r.watch ? (ready, full, changed) => createWatcher(r.watch!, ready, full, changed) : undefined);
  return withSignals({ stop: (sig) => supervisor.stop(sig), requestRun: () => supervisor.requestRun() }, () => supervisor.start());
}

interface StateFlags { readonly stateDir?: string; readonly root: string }

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

const stateOptions = (cmd: Command): Command => cmd
  .option('--state-dir <dir>', 'state directory: run lock, reports, last-known-good catalogue (default: $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge)')
  .option('--root <dir>', 'host root directory', '/');

export function registerAgentCommands(program: Command): void {
  const agent = stateOptions(program.command('agent')
    .description('run as an agent: converge at start, then every --interval; SIGHUP runs now, SIGTERM stops after the resource in flight (see docs/agent.md)')
    .option('--manifests <path>', 'the catalogue: a manifest file or directory, or a fleet tree (compiled for --node)')
    .option('--server <url...>', 'or: catalogue server URL(s), tried in order (mutual TLS; enrols on first contact)')
    .option('--ca-fingerprint <sha256>', 'with --server: pin the server\'s CA by fingerprint (from `tsconverge ca init` / `ca fingerprint`)')
    .option('--ca-file <file>', 'with --server: pin the server\'s CA by its certificate file')
    .option('--join-token <token>', 'with --server: a one-time join token (`tsconverge ca token`): signed at once')
    .option('--connect-timeout <seconds>', 'with --server: time to reach a server before the next one, then the cached catalogue', count, 5)
    .option('--wait-for-cert <seconds>', 'with --server: how long to wait for the CA to sign this node\'s request', count, 0)
    .option('--node <name>', 'fleet trees: the node to compile for; also names the node in reports and sets its splay (default: the host name)')
    .option('--environment <env>', 'fleet trees: the environment (default: TSCONVERGE_ENVIRONMENT, else the only one)')
    .option('--secrets-dir <dir>', 'fleet trees: directory of secret files (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)')
    .option('--interval <duration>', 'time between runs: 30m, 1h, 90s, 1h30m', '30m')
    .option('--splay-limit <duration>', 'largest per-node offset of the scheduled runs inside the interval (default: the interval)')
    .option('--onetime', 'one run, then exit with its exit code (0/2/4/6; 1 did not run, or the agent is disabled)')
    .option('--noop', 'only report what would change; change nothing')
    .option('--metrics-file <file>', 'write Prometheus metrics after every run (node_exporter textfile collector, e.g. /var/lib/prometheus/node-exporter/tsconverge.prom)')
    .option('--keep-reports <n>', 'run reports kept in <state-dir>/reports', count, 100)
    .option('--lock-wait <duration>', 'how long a run waits for a run in progress (a manual apply) before it is reported as not run', '10m')
    .option('--concurrency <n>', 'resources applied at once', count)
    .option('--timeout <seconds>', 'time limit for one resource\'s apply (also bounds the wait on SIGTERM)', count)
    .option('--retries <n>', 'extra attempts after a transient failure', count)
    .option('--no-watch', 'do not watch between runs: drift waits for the next scheduled run (default: watch the engine\'s events and the managed files, repair in seconds; see docs/agent.md)')
    .option('--watch-debounce <duration>', 'wait this long after the last event before the run it starts', '2s')
    .option('--watch-burst <n>', 'event runs allowed back to back before the rate limit', count, 5)
    .option('--watch-every <duration>', 'after the burst: at most one event run per this time', '30s')
    .option('--watch-max <n>', 'event runs per interval; past that, events are left to the scheduled run', count, 20)
    .option('--in-process', 'run every run inside the agent process: no process start per run, but 100-200 MB resident between runs instead of about 51 MB (default: a process per run)')
    .addOption(new Option('--worker <trigger>', 'internal: one run of a parent agent').hideHelp())
    .addOption(new Option('--worker-runs <json>', 'internal: the parent agent\'s run counts').hideHelp())
    .addOption(new Option('--worker-event <file>', 'internal: what the watcher saw, for a run started by events').hideHelp())
    .option('--journald', 'log lines with the sd-daemon <N> priority prefix (automatic when stderr is the systemd journal)'))
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      process.exitCode = await agentCommand({ ...cmd.optsWithGlobals(), ...opts } as unknown as AgentFlags);
    });
  stateOptions(agent.command('disable')
    .description('pause the agent (a change window): its runs are skipped, logged and reported until `agent enable`')
    .requiredOption('--reason <text>', 'why; shown by status, in every skipped run\'s report and log'))
    // `agent` parses --state-dir/--root wherever they are (commander's default): read them merged.
    .action(async (_opts: unknown, cmd: Command) => {
      process.exitCode = await disableCommand(cmd.optsWithGlobals() as StateFlags & { reason: string });
    });
  stateOptions(agent.command('enable').description('resume the agent\'s runs'))
    .action(async (_opts: unknown, cmd: Command) => {
      process.exitCode = await enableCommand(cmd.optsWithGlobals() as StateFlags);
    });
  stateOptions(program.command('status')
    .description('the agent: enabled or disabled, last run (time, duration, catalogue, exit code, counts), next run, last-known-good used'))
    .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'))
    .action(async (opts: StateFlags & { format: 'human' | 'json' }) => {
      process.exitCode = await statusCommand(opts);
    });
}
