/** `tsconverge facts`: this host's facts as JSON (src/cli/facts.ts). */
import type { Command } from 'commander';
import type { CliCommand } from './command.js';

export const command: CliCommand = {
  name: 'facts',
  register(program: Command): void {
    program
      .command('facts')
      .description("print this host's facts as JSON (what templates see as {{facts.*}} and classification matches on)")
      .option('--root <dir>', 'host root directory', '/')
      .option('--no-docker', 'do not ask the Docker engine for its version')
      .action(async (opts: { root: string; docker: boolean }) => {
        const { factsCommand } = await import('../facts.js');
        process.exitCode = await factsCommand(opts);
      });
  },
};
