/** `tsconverge explain --node N 'kind[name].path' [PATH]`: where a value came from. */
import { printInputError } from './common.js';
import { EXIT } from './exit.js';
import { factsForNode, type FleetFlags } from './fleet.js';

export async function explainCommand(query: string, target: string, flags: FleetFlags): Promise<number> {
  const format = flags.format ?? 'human';
  try {
    const { compileFleet } = await import('../catalogue/fleet.js');
    const { explainValue, formatExplanation } = await import('../catalogue/explain.js');
    const facts = await factsForNode(flags.node, flags.facts);
    const fc = await compileFleet(target, { node: flags.node, environment: flags.environment, facts, secrets: { dir: flags.secretsDir } });
    const e = explainValue(fc, query);
    process.stdout.write(
      format === 'json'
        ? JSON.stringify({ formatVersion: 1, node: fc.node, environment: fc.environment, role: fc.role, ...e }, null, 2) + '\n'
        : formatExplanation(e),
    );
    return EXIT.OK;
  } catch (err) {
    printInputError(err, format);
    return EXIT.NOT_RUN;
  }
}
