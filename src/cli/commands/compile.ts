/** `tsconverge compile --node NAME [PATH]`: one node's resolved catalogue as JSON (src/cli/compile.ts). */
import type { Command } from 'commander';
import type { FleetFlags } from '../fleet.js';
import type { CliCommand } from './command.js';
import { fleetOptions, formatOption } from './options.js';

export const command: CliCommand = {
  name: 'compile',
  register(program: Command): void {
    fleetOptions(
      program
        .command('compile')
        .description('print the resolved catalogue of one node of a fleet tree as JSON (exit 0, or 1 on bad input)')
        .argument('[path]', 'fleet tree (a directory with environments/)', '.')
        .requiredOption('--node <name>', 'the node to compile for'),
    )
      .addOption(formatOption('error format'))
      .action(async (target: string, opts: FleetFlags) => {
        const { compileCommand } = await import('../compile.js');
        process.exitCode = await compileCommand(target, opts);
      });
  },
};
