/** `tsconverge import compose FILE...` and `tsconverge import host` (src/cli/import.ts). */
import { Option, type Command } from 'commander';
import type { ImportComposeFlags, ImportHostFlags } from '../import.js';
import type { CliCommand } from './command.js';

export const command: CliCommand = {
  name: 'import',
  register(program: Command): void {
    const imp = program.command('import').description('write a manifest for what already exists: a Compose project, or this host');

    imp
      .command('compose')
      .description('convert Compose files (merged in order) into a tsconverge manifest that adopts the running stack (exit 0 written, 1 invalid input)')
      .argument('<files...>', 'Compose files, merged in order (docker-compose.yml docker-compose.override.yml)')
      .option('-o, --output <file>', 'write the manifest here instead of stdout')
      .option('-p, --project-name <name>', "Compose project name (default: $COMPOSE_PROJECT_NAME, .env, then the first file's directory)")
      .option('--profile <name>', 'enable a profile (repeatable; also $COMPOSE_PROFILES)', (v: string, prev: string[]) => [...prev, v], [] as string[])
      .option('--env-file <file>', 'variables for interpolation (default: .env beside the first file)')
      .addOption(
        new Option('--container-names <style>', 'container names as docker-compose 1.x (project_service_1) or Compose v2 (project-service-1) makes them')
          .choices(['v1', 'v2'])
          .default('v1'),
      )
      .option('--no-adopt', 'do not mark resources adopt: true')
      .action(async (files: string[], opts: ImportComposeFlags) => {
        const { importComposeCommand } = await import('../import.js');
        process.exitCode = await importComposeCommand(files, opts);
      });

    imp
      .command('host')
      .description(
        'write a manifest for the containers, networks and volumes that exist now (engine defaults left out), and with --users the accounts and SSH keys, so a plan against it shows no changes',
      )
      .option('-o, --output <file>', 'write the manifest here instead of stdout')
      .option('--prefix <prefix>', 'only objects whose name starts with this prefix')
      .option('--root <dir>', 'host root for bind-mount sources and host settings', '/')
      .option('--host-settings', 'also DNS (etc/resolv.conf), NTP (etc/chrony/chrony.conf) and sysctls (under --sysctl-prefix), read against --root')
      .option('--sysctl-prefix <prefix>', 'sysctl keys to include with --host-settings', 'net.')
      .option('--no-adopt', 'do not mark resources adopt: true')
      .option(
        '--users',
        'also the users, groups and SSH authorized keys under --root with a uid/gid of at least --min-uid (password hashes are never imported)',
      )
      .option('--min-uid <n>', 'the lowest uid and gid --users imports', '1000')
      .option('--no-docker', 'leave out containers, networks and volumes (the Docker engine is not asked)')
      .action(async (opts: ImportHostFlags) => {
        const { importHostCommand } = await import('../import.js');
        process.exitCode = await importHostCommand(opts);
      });
  },
};
