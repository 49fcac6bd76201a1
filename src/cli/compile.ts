/**
 * `tsconverge compile --node NAME [--facts facts.json] [--environment ENV] [PATH]`:
 * print the resolved catalogue of one node of a fleet tree as deterministic JSON
 * (secrets masked). Also registers `compile` and `explain` on the program.
 */
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import { printInputError } from './common.js';
import { EXIT } from './exit.js';

export interface FleetFlags {
  readonly node?: string;
  readonly facts?: string;
  readonly environment?: string;
  readonly secretsDir?: string;
  readonly format?: 'human' | 'json';
}

/** Facts for a node compiled elsewhere: the --facts file, this host's when it is the node, else only its name. */
export async function factsForNode(node: string | undefined, file: string | undefined): Promise<Facts> {
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new TsconvergeError('INVALID_VALUE', `cannot read facts from ${file}: ${(err as Error).message}`, { location: { file }, terminal: true, hint: 'pass a JSON object of facts, e.g. the output of tsconverge facts --format json' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new TsconvergeError('INVALID_VALUE', `facts in ${file} must be a JSON object`, { location: { file }, terminal: true });
    return { ...(node ? { hostname: node, fqdn: node } : {}), ...(parsed as object) } as Facts;
  }
  const { createFacts } = await import('../facts/facts.js');
  if (node === undefined || node === os.hostname().split('.')[0]) return createFacts();
  return { hostname: node, fqdn: node, domain: '' } as unknown as Facts;
}

export async function compileCommand(target: string, flags: FleetFlags): Promise<number> {
  try {
    const { compileFleet, serializeCatalogue } = await import('../catalogue/fleet.js');
    const { createGraph } = await import('../engine/graph.js');
    const { createProviderRegistry } = await import('../providers/container.js');
    const facts = await factsForNode(flags.node, flags.facts);
    const fc = await compileFleet(target, { node: flags.node, environment: flags.environment, facts, secrets: { dir: flags.secretsDir } });
    createGraph(fc.catalogue, createProviderRegistry()); // cycles are input errors
    process.stdout.write(serializeCatalogue(fc));
    return EXIT.OK;
  } catch (err) {
    printInputError(err, flags.format ?? 'human');
    return EXIT.NOT_RUN;
  }
}

/** The fleet options shared by compile, explain (and apply/plan on a fleet tree). */
export function fleetOptions(cmd: Command): Command {
  return cmd
    .option('--facts <file>', 'facts of the node, as JSON (default: this host\'s when it is the node, else only its name)')
    .option('--environment <env>', 'environment of a fleet tree (default: TSCONVERGE_ENVIRONMENT, else the only one)')
    .option('--secrets-dir <dir>', 'directory of secret files, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)');
}

export function registerCatalogueCommands(program: Command): void {
  fleetOptions(program.command('compile')
    .description('print the resolved catalogue of one node of a fleet tree as JSON (exit 0, or 1 on bad input)')
    .argument('[path]', 'fleet tree (a directory with environments/)', '.')
    .requiredOption('--node <name>', 'the node to compile for'))
    .addOption(new Option('--format <format>', 'error format').choices(['human', 'json']).default('human'))
    .action(async (target: string, opts: FleetFlags) => {
      process.exitCode = await compileCommand(target, opts);
    });
  fleetOptions(program.command('explain')
    .description('say which module line and data layer (file and line) set a value, and what it overrode')
    .argument('<query>', "kind[name].path, e.g. 'docker.container[shop-app].environment.LOG_LEVEL', or MODULE.PARAMETER")
    .argument('[path]', 'fleet tree', '.')
    .requiredOption('--node <name>', 'the node whose catalogue holds the value'))
    .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'))
    .action(async (query: string, target: string, opts: FleetFlags) => {
      const { explainCommand } = await import('./explain.js');
      process.exitCode = await explainCommand(query, target, opts);
    });
}
