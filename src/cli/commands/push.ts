/** `tsconverge push --inventory FILE [PATH]`: converge the inventory's hosts over SSH (src/cli/push.ts). */
import { InvalidArgumentError, type Command } from 'commander';
import { DEFAULTS } from '../../core/defaults.js';
import type { PushFlags } from '../push.js';
import type { CliCommand } from './command.js';
import { formatOption } from './options.js';

function parallelism(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError(`expected a whole number from 1 to 256, got "${v}"`);
  return n;
}

export const command: CliCommand = {
  name: 'push',
  register(program: Command): void {
    program
      .command('push')
      .description(
        "converge the inventory's hosts over SSH: compile each host's catalogue here, apply it there (exit: the worst over the hosts; an unreachable host counts as 4)",
      )
      .argument('[path]', 'fleet tree (compiled per host) or manifest file/directory (the same for every host)', DEFAULTS.manifests)
      .requiredOption('--inventory <file>', 'inventory YAML: hosts, groups, known_hosts (spec/inventory.schema.json)')
      .option('--noop', 'show on every host what would change, and change nothing')
      .option('--limit <glob>', 'only the hosts or groups whose name matches (globs with * and ?, comma-separated)')
      .option('--parallel <n>', 'hosts converged at once', parallelism, 5)
      .option('--accept-new', 'record the host key of a host not yet in known_hosts (a changed key is always refused)')
      .option(
        '--no-install',
        'do not install tsconverge on a host where it is missing or another version: fail and say what to install (--noop never installs)',
      )
      .option(
        '--secrets-dir <dir>',
        'directory of secret files for fleet trees, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)',
      )
      .addOption(formatOption("output: human (each host's report prefixed, then a summary table) or json (one object per host per line)"))
      .action(async (target: string, opts: PushFlags, cmd: Command) => {
        const { pushCommand } = await import('../push.js');
        process.exitCode = await pushCommand(target, { ...cmd.optsWithGlobals(), ...opts });
      });
  },
};
