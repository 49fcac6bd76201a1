/** `tsconverge validate [PATH]`: parse, validate and compile; touch nothing (src/cli/validate.ts). */
import type { Command } from 'commander';
import { DEFAULTS } from '../../core/defaults.js';
import type { CliCommand } from './command.js';
import { formatOption } from './options.js';

export const command: CliCommand = {
  name: 'validate',
  register(program: Command): void {
    program
      .command('validate')
      .description('parse, validate and compile manifests; touch nothing (exit 0 valid, 1 invalid)')
      .argument('[path]', 'manifest file or directory', DEFAULTS.manifests)
      .addOption(formatOption('output format'))
      .action(async (target: string, opts: { format?: 'human' | 'json' }) => {
        const { validateCommand } = await import('../validate.js');
        process.exitCode = await validateCommand(target, opts);
      });
  },
};
