/**
 * `tsconverge compile --node NAME [--facts facts.json] [--environment ENV] [PATH]`:
 * print the resolved catalogue of one node of a fleet tree as deterministic JSON
 * (secrets masked). Also registers `compile` and `explain` on the program.
 */
import { Option, type Command } from 'commander';
import { printInputError } from './common.js';
import { EXIT } from './exit.js';
import { factsForNode, fleetOptions, type FleetFlags } from './fleet.js';

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
