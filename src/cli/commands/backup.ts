/** `tsconverge backup list|run|restore|verify`: the catalogue's backup.volume resources, acted on now (src/cli/backup.ts). */
import type { Command } from 'commander';
import { DEFAULTS } from '../../core/defaults.js';
import type { BackupFlags } from '../backup.js';
import type { CliCommand } from './command.js';
import { formatOption } from './options.js';

const common = (cmd: Command): Command =>
  cmd
    .option('--manifests <path>', 'the catalogue the backups are declared in: manifest file, directory or fleet tree', DEFAULTS.manifests)
    .option('--root <dir>', 'host root directory (passwordFile is read under it)', '/')
    .addOption(formatOption('output format on stdout'))
    .option('--node <name>', 'when --manifests is a fleet tree: the node to compile for (default: the hostname fact)')
    .option('--environment <env>', 'environment of a fleet tree')
    .option('--secrets-dir <dir>', 'directory of secret files, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)')
    .option(
      '--state-dir <dir>',
      'run state: the run lock backup run shares with apply and the agent (default: $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge)',
    );

export const command: CliCommand = {
  name: 'backup',
  register(program: Command): void {
    const backup = program.command('backup').description('volume backups declared as backup.volume: list, take, restore, drill (docs/backup.md)');
    common(
      backup.command('list').description('snapshots of the declared backups with time, host, volume and size').argument('[volume]', 'only this volume'),
    ).action(async (volume: string | undefined, opts: BackupFlags, cmd: Command) => {
      const { backupListCommand } = await import('../backup.js');
      process.exitCode = await backupListCommand(volume, { ...cmd.optsWithGlobals(), ...opts });
    });
    common(
      backup
        .command('run')
        .description('take a backup now, whatever the age of the last one (exit 2 taken, 4 failed)')
        .argument('[name]', 'the backup.volume to run (default: all)'),
    ).action(async (name: string | undefined, opts: BackupFlags, cmd: Command) => {
      const { backupRunCommand } = await import('../backup.js');
      process.exitCode = await backupRunCommand(name, { ...cmd.optsWithGlobals(), ...opts });
    });
    common(
      backup
        .command('restore')
        .description('restore a snapshot into a new volume (--into) or in place (the users stopped and started again)')
        .argument('<volume>', 'the volume the snapshot is of'),
    )
      .requiredOption('--snapshot <id>', 'the snapshot: an ID from backup list, or latest (the newest of this host)')
      .option('--into <volume>', 'restore into this new volume instead of in place')
      .action(async (volume: string, opts: BackupFlags & { snapshot: string; into?: string }, cmd: Command) => {
        const { backupRestoreCommand } = await import('../backup.js');
        process.exitCode = await backupRestoreCommand(volume, { ...cmd.optsWithGlobals(), ...opts });
      });
    common(
      backup
        .command('verify')
        .description('restore drill: the newest snapshot into a scratch volume, compared with the snapshot, removed')
        .argument('<name>', 'the backup.volume'),
    ).action(async (name: string, opts: BackupFlags, cmd: Command) => {
      const { backupVerifyCommand } = await import('../backup.js');
      process.exitCode = await backupVerifyCommand(name, { ...cmd.optsWithGlobals(), ...opts });
    });
    // Hidden: what the guard of a quiesce runs when the process that paused or stopped the containers died.
    backup
      .command('resume', { hidden: true })
      .argument('<containers...>', 'pause:ID or stop:ID')
      .action(async (targets: string[]) => {
        const { backupResumeCommand } = await import('../backup.js');
        process.exitCode = await backupResumeCommand(targets);
      });
  },
};
