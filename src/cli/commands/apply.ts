/** `tsconverge apply [PATH]`: converge the host to the catalogue (src/cli/apply.ts). */
import type { Command } from 'commander';
import type { CliCommand } from './command.js';
import { nonNegativeInt, runOptions } from './options.js';

export const command: CliCommand = {
  name: 'apply',
  register(program: Command): void {
    runOptions(program.command('apply').description('converge the host to the catalogue (exit 0 no changes, 2 changes, 4 failures, 6 both, 1 not run)'))
      .option('--noop', 'show what would change and change nothing')
      .option('--wait-for-lock <seconds>', 'when another run holds the lock, wait up to this long instead of exiting 1 at once', nonNegativeInt, 0)
      .option('--catalogue-stdin', 'apply the compiled catalogue document on stdin instead of PATH (what tsconverge push runs on each host)')
      .action(async (target: string, opts: Record<string, unknown>, cmd: Command) => {
        const { applyCommand } = await import('../apply.js');
        process.exitCode = await applyCommand(target, { ...cmd.optsWithGlobals(), ...opts });
      });
  },
};
