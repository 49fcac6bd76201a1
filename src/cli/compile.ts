/**
 * `tsconverge compile --node NAME [--facts facts.json] [--environment ENV] [PATH]`:
 * print the resolved catalogue of one node of a fleet tree as deterministic JSON
 * (secrets masked). Its command line: src/cli/commands/compile.ts.
 */
import { printInputError } from './common.js';
import { EXIT } from './exit.js';
import { factsForNode, type FleetFlags } from './fleet.js';

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
