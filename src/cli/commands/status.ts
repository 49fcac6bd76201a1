/** `tsconverge status`: the agent's state, last and next run (src/cli/agent.ts). */
import type { Command } from 'commander';
import type { StateFlags } from '../agent.js';
import { agentStateOptions } from './agent.js';
import type { CliCommand } from './command.js';
import { formatOption } from './options.js';

export const command: CliCommand = {
  name: 'status',
  register(program: Command): void {
    agentStateOptions(
      program
        .command('status')
        .description('the agent: enabled or disabled, last run (time, duration, catalogue, exit code, counts), next run, last-known-good used'),
    )
      .addOption(formatOption('output format'))
      .action(async (opts: StateFlags & { format: 'human' | 'json' }) => {
        const { statusCommand } = await import('../agent.js');
        process.exitCode = await statusCommand(opts);
      });
  },
};
