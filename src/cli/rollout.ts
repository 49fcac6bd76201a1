/**
 * `tsconverge rollout status | promote [--all] | halt | revert --server URL`: the operator's
 * side of a rollout (src/server/rollout.ts, docs/rollout.md), over mutual TLS with the
 * operator certificate (as `tsconverge nodes`). The server records each decision in its
 * audit trail with the certificate's name. Its command line: src/cli/commands/rollout.ts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { EXIT } from './exit.js';
import type { RolloutStatus } from '../server/rollout.js';

/** The operator's connection (src/cli/commands/options.ts operatorOptions), and promote's --all. */
export interface RolloutFlags {
  server: string;
  caDir?: string;
  stateDir?: string;
  caFile?: string;
  cert?: string;
  key?: string;
  format: string;
  all?: boolean;
}

const short = (v: string | undefined): string => (v ? v.slice(0, 19) : 'none');

export function formatRollout(s: RolloutStatus): string {
  const out: string[] = [];
  const r = s.rollout;
  if (!r) return `no rollout; every node is served ${short(s.stable)}\n`;
  out.push(`rollout ${r.id}: ${short(r.from)} -> ${short(r.to)}  ${r.state}${r.reason ? ` (${r.reason})` : ''}`);
  out.push(`stable ${short(s.stable)}, started ${r.startedAt}, wave ${r.policy.waves[r.wave]?.name ?? '?'} since ${r.waveStartedAt}`);
  for (const w of r.waves) {
    out.push(`wave ${w.index} ${w.name} (${w.state}, bake ${Math.round(w.bakeMs / 1000)} s, ${w.nodes.length} nodes)`);
    for (const n of w.nodes) out.push(`  ${n.node.padEnd(24)} serves ${n.serves.padEnd(8)} ${n.status.padEnd(20)} code ${short(n.codeVersion)}`);
  }
  const audit = s.audit.filter((a) => a.rolloutId === r.id).slice(0, 10);
  if (audit.length) out.push('audit (newest first):');
  for (const a of audit) out.push(`  ${a.at} ${a.actor} ${a.action}${a.detail ? ` ${JSON.stringify(a.detail)}` : ''}`);
  return out.join('\n') + '\n';
}

export async function rolloutCommand(action: 'status' | 'promote' | 'halt' | 'revert', o: RolloutFlags): Promise<number> {
  try {
    const { request, jsonOf } = await import('../server/client.js');
    const dir = path.resolve(o.caDir ?? path.join(resolveStateDir({ stateDir: o.stateDir, root: '/' }), 'ca'));
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
    const a =
      action === 'status'
        ? await request(o.server, 'v1/rollout', tls, { timeoutMs: 15_000 })
        : await request(o.server, `v1/rollout/${action}`, tls, { method: 'POST', json: action === 'promote' && o.all ? { all: true } : {}, timeoutMs: 15_000 });
    const body = jsonOf<RolloutStatus & { error?: string }>(a);
    if (a.status !== 200)
      throw new TsconvergeError(a.status === 409 || a.status === 404 ? 'INVALID_VALUE' : 'CERT_REFUSED', `server answered ${a.status}: ${body.error ?? ''}`);
    process.stdout.write(o.format === 'json' ? JSON.stringify(body, null, 2) + '\n' : formatRollout(body));
    return EXIT.OK;
  } catch (err) {
    if (err instanceof TsconvergeError) {
      process.stderr.write(`error: ${err.format()}\n`);
      return EXIT.NOT_RUN;
    }
    throw err;
  }
}
