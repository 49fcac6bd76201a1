/**
 * The agent's command line, all of it: `tsconverge agent` (the long-running agent, or one
 * run of it), `tsconverge agent disable --reason "..."` and `tsconverge agent enable`,
 * with every option and default; `tsconverge status` (./status.ts) takes the state
 * options from here. What they do is src/cli/agent.ts (the agent process, which only
 * schedules), src/cli/agent-run.ts (a run in this process) and src/cli/agent-common.ts
 * (the flags' type, signals, errors).
 *
 * The single executable's agent process (src/cli/agent-main.ts) registers this file and
 * ./status.ts alone, so the agent parses its flags there exactly as in `tsconverge`.
 */
import { Option, InvalidArgumentError, type Command } from 'commander';
import type { AgentFlags } from '../agent-common.js';
import type { StateFlags } from '../agent.js';
import type { CliCommand } from './command.js';

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
}

/** Where the agent keeps its state: `agent`, `agent disable|enable` and `status`. */
export const agentStateOptions = (cmd: Command): Command =>
  cmd
    .option(
      '--state-dir <dir>',
      'state directory: run lock, reports, last-known-good catalogue (default: $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge)',
    )
    .option('--root <dir>', 'host root directory', '/');

export const command: CliCommand = {
  name: 'agent',
  register(program: Command): void {
    const agent = agentStateOptions(
      program
        .command('agent')
        .description(
          'run as an agent: converge at start, then every --interval; SIGHUP runs now, SIGTERM stops after the resource in flight (see docs/agent.md)',
        )
        .option('--manifests <path>', 'the catalogue: a manifest file or directory, or a fleet tree (compiled for --node)')
        .option('--server <url...>', 'or: catalogue server URL(s), tried in order (mutual TLS; enrols on first contact)')
        .option('--ca-fingerprint <sha256>', "with --server: pin the server's CA by fingerprint (from `tsconverge ca init` / `ca fingerprint`)")
        .option('--ca-file <file>', "with --server: pin the server's CA by its certificate file")
        .option('--join-token <token>', 'with --server: a one-time join token (`tsconverge ca token`): signed at once')
        .option('--connect-timeout <seconds>', 'with --server: time to reach a server before the next one, then the cached catalogue', count, 5)
        .option('--wait-for-cert <seconds>', "with --server: how long to wait for the CA to sign this node's request", count, 0)
        .option('--node <name>', 'fleet trees: the node to compile for; also names the node in reports and sets its splay (default: the host name)')
        .option('--environment <env>', 'fleet trees: the environment (default: TSCONVERGE_ENVIRONMENT, else the only one)')
        .option('--secrets-dir <dir>', 'fleet trees: directory of secret files (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)')
        .option('--interval <duration>', 'time between runs: 30m, 1h, 90s, 1h30m', '30m')
        .option('--splay-limit <duration>', 'largest per-node offset of the scheduled runs inside the interval (default: the interval)')
        .option('--onetime', 'one run, then exit with its exit code (0/2/4/6; 1 did not run, or the agent is disabled)')
        .option('--noop', 'only report what would change; change nothing')
        .option(
          '--metrics-file <file>',
          'write Prometheus metrics after every run (node_exporter textfile collector, e.g. /var/lib/prometheus/node-exporter/tsconverge.prom)',
        )
        .option('--keep-reports <n>', 'run reports kept in <state-dir>/reports', count, 100)
        .option('--lock-wait <duration>', 'how long a run waits for a run in progress (a manual apply) before it is reported as not run', '10m')
        .option('--concurrency <n>', 'resources applied at once', count)
        .option('--timeout <seconds>', "time limit for one resource's apply (also bounds the wait on SIGTERM)", count)
        .option('--retries <n>', 'extra attempts after a transient failure', count)
        .option(
          '--no-watch',
          "do not watch between runs: drift waits for the next scheduled run (default: watch the engine's events and the managed files, repair in seconds; see docs/agent.md)",
        )
        .option('--watch-debounce <duration>', 'wait this long after the last event before the run it starts', '2s')
        .option('--watch-burst <n>', 'event runs allowed back to back before the rate limit', count, 5)
        .option('--watch-every <duration>', 'after the burst: at most one event run per this time', '30s')
        .option('--watch-max <n>', 'event runs per interval; past that, events are left to the scheduled run', count, 20)
        .option(
          '--in-process',
          'run every run inside the agent process: no process start per run, but 100-200 MB resident between runs instead of about 51 MB (default: a process per run)',
        )
        .addOption(new Option('--worker <trigger>', 'internal: one run of a parent agent').hideHelp())
        .addOption(new Option('--worker-runs <json>', "internal: the parent agent's run counts").hideHelp())
        .addOption(new Option('--worker-event <file>', 'internal: what the watcher saw, for a run started by events').hideHelp())
        .option('--journald', 'log lines with the sd-daemon <N> priority prefix (automatic when stderr is the systemd journal)'),
    ).action(async (opts: Record<string, unknown>, cmd: Command) => {
      const { agentCommand } = await import('../agent.js');
      process.exitCode = await agentCommand({ ...cmd.optsWithGlobals(), ...opts } as unknown as AgentFlags);
    });
    agentStateOptions(
      agent
        .command('disable')
        .description('pause the agent (a change window): its runs are skipped, logged and reported until `agent enable`')
        .requiredOption('--reason <text>', "why; shown by status, in every skipped run's report and log"),
    )
      // `agent` parses --state-dir/--root wherever they are (commander's default): read them merged.
      .action(async (_opts: unknown, cmd: Command) => {
        const { disableCommand } = await import('../agent.js');
        process.exitCode = await disableCommand(cmd.optsWithGlobals() as StateFlags & { reason: string });
      });
    agentStateOptions(agent.command('enable').description("resume the agent's runs")).action(async (_opts: unknown, cmd: Command) => {
      const { enableCommand } = await import('../agent.js');
      process.exitCode = await enableCommand(cmd.optsWithGlobals() as StateFlags);
    });
  },
};
