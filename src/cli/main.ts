/**
 * The command line. Commands load their modules lazily so `tsconverge --version` starts
 * fast. This layer is the only one that exits.
 */
import { readFileSync } from 'node:fs';
import { Command, Option, InvalidArgumentError } from 'commander';
import { BUNDLE } from '../core/bundle.js';
import { baseProgram, runProgram } from './program.js';
import { registerCatalogueCommands } from './compile.js';
import { fleetOptions } from './fleet.js';
import { registerServerCommands } from './server.js';
import { registerImportCommands } from './import.js';
import { registerAgentCommands } from './agent.js';
import { registerPushCommands } from './push.js';
import { registerBackupCommands } from './backup.js';
import { registerRolloutCommands } from './rollout.js';
import { DEFAULTS } from '../core/defaults.js';

export { reportUnexpected } from './program.js';

const pkg = BUNDLE ?? (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string });

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number >= 0, got "${v}"`);
  return n;
}

export function createProgram(): Command {
  const program = baseProgram(pkg.version);

  const runOptions = (cmd: Command): Command => cmd
    .argument('[path]', 'manifest file or directory of *.yaml files', DEFAULTS.manifests)
    .addOption(new Option('--format <format>', 'output format on stdout').choices(['human', 'json']).default('human'))
    .option('--root <dir>', 'host root directory for files and bind-mount sources (tests use a temp dir)', '/')
    .option('--concurrency <n>', 'resources applied at once', positiveInt, DEFAULTS.concurrency)
    .option('--timeout <seconds>', 'time limit for one resource\'s apply', positiveInt, DEFAULTS.applyTimeoutMs / 1000)
    .option('--retries <n>', 'extra attempts after a transient failure (bad input is never retried)', nonNegativeInt, DEFAULTS.retries)
    .option('--node <name>', 'when PATH is a fleet tree (it has environments/): the node to compile for (default: the hostname fact)')
    .option('--allow-replace', 'replace stateful: true resources too (otherwise such a replace is held and reported)')
    .option('--adopt', 'take over existing containers, networks and volumes that tsconverge did not create (as adopt: true on each)')
    .option('--state-dir <dir>', 'run state: the run lock, last applied state, owed restarts, adoptions (default: $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge)')
    .option('--no-compile-cache', 'compile PATH at every run: do not reuse (nor, for apply, store) the catalogue compiled from unchanged inputs');
  const runFleetOptions = (cmd: Command): Command => fleetOptions(runOptions(cmd));

  runFleetOptions(program.command('apply').description('converge the host to the catalogue (exit 0 no changes, 2 changes, 4 failures, 6 both, 1 not run)'))
    .option('--noop', 'show what would change and change nothing')
    .option('--wait-for-lock <seconds>', 'when another run holds the lock, wait up to this long instead of exiting 1 at once', nonNegativeInt, 0)
    .option('--catalogue-stdin', 'apply the compiled catalogue document on stdin instead of PATH (what tsconverge push runs on each host)')
    .action(async (target: string, opts: Record<string, unknown>, cmd: Command) => {
      const { applyCommand } = await import('./apply.js');
      process.exitCode = await applyCommand(target, { ...cmd.optsWithGlobals(), ...opts });
    });

  runFleetOptions(program.command('plan').description('same as apply --noop: show what would change, change nothing'))
    .action(async (target: string, opts: Record<string, unknown>, cmd: Command) => {
      const { applyCommand } = await import('./apply.js');
      process.exitCode = await applyCommand(target, { ...cmd.optsWithGlobals(), ...opts, noop: true });
    });

  program.command('validate')
    .description('parse, validate and compile manifests; touch nothing (exit 0 valid, 1 invalid)')
    .argument('[path]', 'manifest file or directory', DEFAULTS.manifests)
    .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'))
    .action(async (target: string, opts: { format?: 'human' | 'json' }) => {
      const { validateCommand } = await import('./validate.js');
      process.exitCode = await validateCommand(target, opts);
    });

  registerCatalogueCommands(program);
  registerServerCommands(program);
  registerAgentCommands(program);
  registerImportCommands(program);
  registerPushCommands(program);
  registerBackupCommands(program);
  registerRolloutCommands(program);

  program.command('facts')
    .description('print this host\'s facts as JSON (what templates see as {{facts.*}} and classification matches on)')
    .option('--root <dir>', 'host root directory', '/')
    .option('--no-docker', 'do not ask the Docker engine for its version')
    .action(async (opts: { root: string; docker: boolean }) => {
      const { createFacts } = await import('../facts/facts.js');
      const facts = await createFacts(opts.root, { docker: opts.docker });
      // The firewall rules' counters (packets and bytes each decided), when tsconverge's chain is there.
      const { readFirewallCounters } = await import('../providers/firewall/backend.js');
      const { createProcessRunner } = await import('../core/exec.js');
      const firewall = await readFirewallCounters(createProcessRunner()).catch(() => null);
      process.stdout.write(JSON.stringify(firewall && firewall.length > 0 ? { ...facts, firewall: { counters: firewall } } : facts, null, 2) + '\n');
    });
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  await runProgram(createProgram(), argv);
}
