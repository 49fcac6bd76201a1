/**
 * `tsconverge nodes --server URL`: every node the catalogue server knows, with its status,
 * over mutual TLS with the operator certificate. Its command line: src/cli/commands/nodes.ts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import { EXIT } from './exit.js';
import { caDirOf, fail } from './ca.js';
import { formatNodes, type NodesAnswer } from './nodes-format.js';

/** The operator's connection (src/cli/commands/options.ts operatorOptions). */
export interface OperatorFlags {
  readonly server: string;
  readonly caDir?: string;
  readonly stateDir?: string;
  readonly caFile?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly format: string;
}

export async function nodesCommand(o: OperatorFlags): Promise<number> {
  try {
    const { request, jsonOf } = await import('../server/client.js');
    const dir = caDirOf(o);
    const read = (f: string): Promise<string> =>
      readFile(f, 'utf8').catch((err: Error) => {
        throw new TsconvergeError('CA_ERROR', `cannot read ${f}: ${err.message}`, {
          hint: 'pass --ca-file, --cert and --key, or --ca-dir of a CA made by tsconverge ca init',
        });
      });
    const tls = {
      ca: await read(o.caFile ?? path.join(dir, 'ca.crt')),
      cert: await read(o.cert ?? path.join(dir, 'operator.crt')),
      key: await read(o.key ?? path.join(dir, 'operator.key')),
    };
    // The server answers a page at a time (GET /v1/nodes?after=NAME): follow `next` to the end.
    let body: (NodesAnswer & { error?: string; next?: string }) | undefined;
    for (let after: string | undefined; ;) {
      const a = await request(o.server, after === undefined ? 'v1/nodes' : `v1/nodes?after=${encodeURIComponent(after)}`, tls, { timeoutMs: 15_000 });
      const page = jsonOf<NodesAnswer & { error?: string; next?: string }>(a);
      if (a.status !== 200) throw new TsconvergeError('CERT_REFUSED', `server answered ${a.status}: ${page.error ?? ''}`);
      if (body) for (const n of page.nodes) body.nodes.push(n);
      else body = page;
      if (page.next === undefined || page.next === after) break;
      after = page.next;
    }
    delete body.next;
    process.stdout.write(o.format === 'json' ? JSON.stringify(body, null, 2) + '\n' : formatNodes(body));
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}
