/** `tsconverge rollout status | promote [--all] | halt | revert --server URL` (src/cli/rollout.ts). */
import type { Command } from 'commander';
import type { RolloutFlags } from '../rollout.js';
import type { CliCommand } from './command.js';
import { operatorOptions } from './options.js';

async function run(action: 'status' | 'promote' | 'halt' | 'revert', o: RolloutFlags): Promise<void> {
  const { rolloutCommand } = await import('../rollout.js');
  process.exitCode = await rolloutCommand(action, o);
}

export const command: CliCommand = {
  name: 'rollout',
  register(program: Command): void {
    const rollout = program
      .command('rollout')
      .description("the rollout of the fleet tree's newest code version: waves, promote, halt, revert (needs an operator certificate)");
    operatorOptions(rollout.command('status').description('the rollout: its versions, state, waves, their nodes and results, and the audit trail')).action(
      (o: RolloutFlags) => run('status', o),
    );
    operatorOptions(rollout.command('promote').description('promote the rollout to its next wave now (also a halted one)'))
      .option('--all', 'every node gets the new version now, skipping the waves (an urgent change; recorded in the audit trail)')
      .action((o: RolloutFlags) => run('promote', o));
    operatorOptions(rollout.command('halt').description('stop promoting: nodes outside the waves reached so far keep the previous version')).action(
      (o: RolloutFlags) => run('halt', o),
    );
    operatorOptions(rollout.command('revert').description('every node of the rollout gets the previous version again at its next run')).action(
      (o: RolloutFlags) => run('revert', o),
    );
  },
};
