/**
 * `tsconverge rollout status | promote [--all] | halt | revert --server URL`: the operator's
 * side of a rollout (src/server/rollout.ts, docs/rollout.md), over mutual TLS with the
 * operator certificate (as `tsconverge nodes`). The server records each decision in its
 * audit trail with the certificate's name.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { EXIT } from './exit.js';
import type { RolloutStatus } from '../server/rollout.js';

interface RolloutFlags { server: string; caDir?: string; stateDir?: string; caFile?: string; cert?: string; key?: string; format: string; all?: boolean }

const connection = (cmd: Command): Command => cmd
  .requiredOption('--server <url>', 'the catalogue server, e.g. https://puppet.example.org:8140')
  .option('--ca-dir <dir>', 'a CA directory to take ca.crt, operator.crt and operator.key from (default: STATE_DIR/ca)')
  .option('--state-dir <dir>', 'state directory (default: TSCONVERGE_STATE_DIR, else /var/lib/tsconverge)')
  .option('--ca-file <file>', 'the CA certificate')
  .option('--cert <file>', 'operator certificate')
  .option('--key <file>', 'operator key')
  .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'));

export function registerRolloutCommands(program: Command): void {
  const rollout = program.command('rollout').description('the rollout of the fleet tree\'s newest code version: waves, promote, halt, revert (needs an operator certificate)');
  connection(rollout.command('status').description('the rollout: its versions, state, waves, their nodes and results, and the audit trail'))
    .action(async (o: RolloutFlags) => { process.exitCode = await rolloutCommand('status', o); });
  connection(rollout.command('promote').description('promote the rollout to its next wave now (also a halted one)'))
    .option('--all', 'every node gets the new version now, skipping the waves (an urgent change; recorded in the audit trail)')
    .action(async (o: RolloutFlags) => { process.exitCode = await rolloutCommand('promote', o); });
  connection(rollout.command('halt').description('stop promoting: nodes outside the waves reached so far keep the previous version'))
    .action(async (o: RolloutFlags) => { process.exitCode = await rolloutCommand('halt', o); });
  connection(rollout.command('revert').description('every node of the rollout gets the previous version again at its next run'))
    .action(async (o: RolloutFlags) => { process.exitCode = await rolloutCommand('revert', o); });
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

async function rolloutCommand(action: 'status' | 'promote' | 'halt' | 'revert', o: RolloutFlags): Promise<number> {
  try {
    const { request, jsonOf } = await import('../server/client.js');
    const dir = path.resolve(o.caDir ?? path.join(resolveStateDir({ stateDir: o.stateDir, root: '/' }), 'ca'));
    const read = (f: string): Promise<string> => readFile(f, 'utf8').catch((err: Error) => { throw new TsconvergeError('CA_ERROR', `cannot read ${f}: ${err.message}`, { hint: 'pass --ca-file, --cert and --key, or --ca-dir of a CA made by tsconverge ca init' }); });
    const tls = { ca: await read(o.caFile ?? path.join(dir, 'ca.crt')), cert: await read(o.cert ?? path.join(dir, 'operator.crt')), key: await read(o.key ?? path.join(dir, 'operator.key')) };
    const a = action === 'status'
      ? await request(o.server, 'v1/rollout', tls, { timeoutMs: 15_000 })
      : await request(o.server, `v1/rollout/${action}`, tls, { method: 'POST', json: action === 'promote' && o.all ? { all: true } : {}, timeoutMs: 15_000 });
    const body = jsonOf<RolloutStatus & { error?: string }>(a);
    if (a.status !== 200) throw new TsconvergeError(a.status === 409 || a.status === 404 ? 'INVALID_VALUE' : 'CERT_REFUSED', `server answered ${a.status}: ${body.error ?? ''}`);
    process.stdout.write(o.format === 'json' ? JSON.stringify(body, null, 2) + '\n' : formatRollout(body));
    return EXIT.OK;
  } catch (err) {
    if (err instanceof TsconvergeError) { process.stderr.write(`error: ${err.format()}\n`); return EXIT.NOT_RUN; }
    throw err;
  }
}
