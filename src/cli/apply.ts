/** `tsconverge apply [PATH] [--noop]` and `tsconverge plan [PATH]`. */
import path from 'node:path';
import { loadAnyCatalogue } from '../catalogue/load-any.js';
import { createFacts } from '../providers/facts.js';
import { createProviderRegistry } from '../container.js';
import { runCatalogue } from '../engine/run.js';
import { createGraph } from '../engine/graph.js';
import { formatReport } from './format.js';
import { loggerFrom, printInputError, type GlobalFlags } from './common.js';
import { EXIT } from './exit.js';
import { factsForNode } from './compile.js';

export interface ApplyFlags extends GlobalFlags {
  readonly noop?: boolean;
  readonly format?: 'human' | 'json';
  readonly root?: string;
  readonly concurrency?: number;
  readonly timeout?: number;
  /** Fleet trees only: the node (default: hostname fact), environment, extra facts, secrets. */
  readonly node?: string;
  readonly environment?: string;
  readonly facts?: string;
  readonly secretsDir?: string;
  readonly retries?: number;
}

export async function applyCommand(target: string, flags: ApplyFlags): Promise<number> {
  const log = loggerFrom(flags);
  const format = flags.format ?? 'human';
  const root = path.resolve(flags.root ?? '/');
  const providers = createProviderRegistry();
  let catalogue;
  let facts = await createFacts(root);
  try {
    if (flags.facts) facts = { ...facts, ...(await factsForNode(undefined, flags.facts)) };
    catalogue = await loadAnyCatalogue(target, { facts, node: flags.node, environment: flags.environment, secrets: { dir: flags.secretsDir } });
    createGraph(catalogue, providers); // cycles are input errors: nothing runs
  } catch (err) {
    printInputError(err, format);
    return EXIT.NOT_RUN;
  }
  const report = await runCatalogue(catalogue, providers, {
    noop: flags.noop ?? false,
    root,
    log,
    facts,
    concurrency: flags.concurrency,
    retries: flags.retries,
    ...(flags.timeout ? { applyTimeoutMs: flags.timeout * 1000 } : {}),
  });
  process.stdout.write(format === 'json' ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.exitCode;
}
