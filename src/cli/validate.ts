/** `tsconverge validate [PATH]`: parse, validate and compile; touch nothing. */
import { loadCatalogue } from '../catalogue/compile.js';
import { createFacts } from '../facts/facts.js';
import { createProviderRegistry } from '../providers/container.js';
import { preflightCatalogue } from '../engine/preflight.js';
import { printInputError } from './common.js';
import { EXIT } from './exit.js';

export async function validateCommand(target: string, flags: { format?: 'human' | 'json'; root?: string }): Promise<number> {
  const format = flags.format ?? 'human';
  try {
    const { isFleetTree, validateFleet } = await import('../catalogue/fleet.js');
    if (await isFleetTree(target)) {
      const nodes = await validateFleet(target, await createFacts(flags.root ?? '/'));
      if (format === 'json') process.stdout.write(JSON.stringify({ formatVersion: 1, ok: true, nodes }, null, 2) + '\n');
      else
        process.stdout.write(
          `ok: fleet tree, ${nodes.length} nodes compiled (${nodes.map((n) => `${n.environment}/${n.node}`).join(', ')}); secrets not read\n`,
        );
      return EXIT.OK;
    }
    const catalogue = await loadCatalogue(target, { facts: await createFacts(flags.root ?? '/') });
    await preflightCatalogue(catalogue, createProviderRegistry());
    if (format === 'json')
      process.stdout.write(JSON.stringify({ formatVersion: 1, ok: true, catalogue: catalogue.version, resources: catalogue.resources.length }, null, 2) + '\n');
    else process.stdout.write(`ok: ${catalogue.resources.length} resources, catalogue ${catalogue.version.slice(0, 19)}\n`);
    return EXIT.OK;
  } catch (err) {
    printInputError(err, format);
    return EXIT.NOT_RUN;
  }
}
