/** `tsconverge nodes --server URL`: the operator's list of the fleet's nodes (src/cli/nodes.ts). */
import type { Command } from 'commander';
import type { OperatorFlags } from '../nodes.js';
import type { CliCommand } from './command.js';
import { operatorOptions } from './options.js';

export const command: CliCommand = {
  name: 'nodes',
  register(program: Command): void {
    operatorOptions(program.command('nodes').description('list every node the server knows with its status (needs an operator certificate)')).action(
      async (o: OperatorFlags) => {
        const { nodesCommand } = await import('../nodes.js');
        process.exitCode = await nodesCommand(o);
      },
    );
  },
};
