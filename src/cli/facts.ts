/**
 * `tsconverge facts`: this host's facts as JSON, what templates see as {{facts.*}}, with
 * the firewall rules' counters when tsconverge's chain is there.
 */
import { EXIT } from './exit.js';

export async function factsCommand(opts: { root: string; docker: boolean }): Promise<number> {
  const { createFacts } = await import('../facts/facts.js');
  const facts = await createFacts(opts.root, { docker: opts.docker });
  // The firewall rules' counters (packets and bytes each decided), when tsconverge's chain is there.
  const { readFirewallCounters } = await import('../providers/firewall/backend.js');
  const { createProcessRunner } = await import('../core/exec.js');
  const firewall = await readFirewallCounters(createProcessRunner()).catch(() => null);
  process.stdout.write(JSON.stringify(firewall && firewall.length > 0 ? { ...facts, firewall: { counters: firewall } } : facts, null, 2) + '\n');
  return EXIT.OK;
}
