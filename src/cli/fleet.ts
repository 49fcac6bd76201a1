/** What compile, explain and apply/plan on a fleet tree share: the fleet flags (src/cli/commands/options.ts fleetOptions) and the facts of the node compiled for. */
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';

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
      throw new TsconvergeError('INVALID_VALUE', `cannot read facts from ${file}: ${(err as Error).message}`, {
        location: { file },
        terminal: true,
        hint: 'pass a JSON object of facts, e.g. the output of tsconverge facts --format json',
      });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new TsconvergeError('INVALID_VALUE', `facts in ${file} must be a JSON object`, { location: { file }, terminal: true });
    return { ...(node ? { hostname: node, fqdn: node } : {}), ...(parsed as object) } as Facts;
  }
  const { createFacts } = await import('../facts/facts.js');
  if (node === undefined || node === os.hostname().split('.')[0]) return createFacts();
  return { hostname: node, fqdn: node, domain: '' } as unknown as Facts;
}
