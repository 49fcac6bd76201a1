/** `tsconverge explain --node NAME QUERY [PATH]`: where a value came from (src/cli/explain.ts). */
import type { Command } from 'commander';
import type { FleetFlags } from '../fleet.js';
import type { CliCommand } from './command.js';
import { fleetOptions, formatOption } from './options.js';

export const command: CliCommand = {
  name: 'explain',
  register(program: Command): void {
    fleetOptions(
      program
        .command('explain')
        .description('say which module line and data layer (file and line) set a value, and what it overrode')
        .argument('<query>', "kind[name].path, e.g. 'docker.container[shop-app].environment.LOG_LEVEL', or MODULE.PARAMETER")
        .argument('[path]', 'fleet tree', '.')
        .requiredOption('--node <name>', 'the node whose catalogue holds the value'),
    )
      .addOption(formatOption('output format'))
      .action(async (query: string, target: string, opts: FleetFlags) => {
        const { explainCommand } = await import('../explain.js');
        process.exitCode = await explainCommand(query, target, opts);
      });
  },
};
