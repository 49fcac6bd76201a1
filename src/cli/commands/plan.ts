/** `tsconverge plan [PATH]`: apply --noop (src/cli/apply.ts). */
import type { Command } from 'commander';
import type { CliCommand } from './command.js';
import { runOptions } from './options.js';

export const command: CliCommand = {
  name: 'plan',
  register(program: Command): void {
    runOptions(program.command('plan').description('same as apply --noop: show what would change, change nothing')).action(
      async (target: string, opts: Record<string, unknown>, cmd: Command) => {
        const { applyCommand } = await import('../apply.js');
        process.exitCode = await applyCommand(target, { ...cmd.optsWithGlobals(), ...opts, noop: true });
      },
    );
  },
};
