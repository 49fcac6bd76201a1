/**
 * `tsconverge server`, `tsconverge ca ...` and `tsconverge nodes`: the catalogue server,
 * its certificate authority and the operator's view of the fleet.
 */
import { readFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { loggerFrom, type GlobalFlags } from './common.js';
import { EXIT } from './exit.js';
import { DEFAULTS } from '../core/defaults.js';
import { formatNodes, type NodesAnswer } from './nodes-format.js';

/** --state-dir, else $TSCONVERGE_STATE_DIR, else /var/lib/tsconverge (src/engine/lock.ts). */
export function serverStateDir(flag: string | undefined, root = '/'): string {
  return resolveStateDir({ stateDir: flag, root });
}

function caDirOf(o: { caDir?: string; stateDir?: string }): string {
  return path.resolve(o.caDir ?? path.join(serverStateDir(o.stateDir), 'ca'));
}

function int(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 10_000_000) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
}

function fail(err: unknown): number {
  if (err instanceof TsconvergeError) {
    process.stderr.write(`error: ${err.format()}\n`);
    return EXIT.NOT_RUN;
  }
  throw err;
}

const caOptions = (cmd: Command): Command => cmd
  .option('--ca-dir <dir>', 'the CA directory (default: STATE_DIR/ca)')
  .option('--state-dir <dir>', 'state directory (default: TSCONVERGE_STATE_DIR, else /var/lib/tsconverge)');

export function registerServerCommands(program: Command): void {
  const ca = program.command('ca').description('the certificate authority of the catalogue server');
  caOptions(ca.command('init').description('create the CA, the server\'s certificate and an operator certificate; print the CA fingerprint'))
    .option('--hostname <name...>', 'extra names or IPs the server answers on (localhost, 127.0.0.1, ::1 and this host\'s name are always in)')
    .action(async (o: { caDir?: string; stateDir?: string; hostname?: string[] }) => {
      try {
        const { initCa } = await import('../server/ca.js');
        const dir = caDirOf(o);
        const created = await initCa(dir, { hostnames: o.hostname });
        process.stdout.write(`CA created in ${dir}\nfingerprint: ${created.fingerprint}\noperator certificate: ${path.join(dir, 'operator.crt')}\n`);
        process.exitCode = EXIT.OK;
      } catch (err) { process.exitCode = fail(err); }
    });
  caOptions(ca.command('reissue-server').description('issue the server\'s certificate again (same key and names, plus --hostname) with the catalogue-signing purpose agents require'))
    .option('--hostname <name...>', 'names or IPs to add')
    .option('--days <n>', 'validity in days from now (default: the old certificate\'s end)', int)
    .action(async (o: { caDir?: string; stateDir?: string; hostname?: string[]; days?: number }) => {
      try {
        const { loadCa, reissueServerCert, caPaths } = await import('../server/ca.js');
        const dir = caDirOf(o);
        const pem = await reissueServerCert(await loadCa(dir), { hostnames: o.hostname, days: o.days });
        const { X509Certificate } = await import('node:crypto');
        const c = new X509Certificate(pem);
        process.stdout.write(`issued ${caPaths(dir).serverCert} again (serial ${c.serialNumber.toLowerCase()}, until ${new Date(c.validTo).toISOString()}, names ${c.subjectAltName ?? 'none'}); the old one is server.crt.old\nrestart the server to use it\n`);
        process.exitCode = EXIT.OK;
      } catch (err) { process.exitCode = fail(err); }
    });
  caOptions(ca.command('fingerprint').description('print the CA fingerprint (sha256:...) agents pin with --ca-fingerprint'))
    .action(async (o: { caDir?: string; stateDir?: string }) => {
      try {
        const { fingerprintOf } = await import('../server/ca.js');
        process.stdout.write(fingerprintOf(await readFile(path.join(caDirOf(o), 'ca.crt'), 'utf8')) + '\n');
      } catch (err) { process.exitCode = fail(err instanceof Error && !(err instanceof TsconvergeError) ? new TsconvergeError('CA_ERROR', err.message, { hint: 'tsconverge ca init creates the CA' }) : err); }
    });
  caOptions(ca.command('list').description('list waiting requests, signed and revoked certificates'))
    .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'))
    .action(async (o: { caDir?: string; stateDir?: string; format: string }) => {
      try {
        const { listCa } = await import('../server/ca.js');
        const l = await listCa(caDirOf(o));
        if (o.format === 'json') { process.stdout.write(JSON.stringify(l, null, 2) + '\n'); return; }
        for (const r of l.pending) process.stdout.write(`pending  ${r.node}  request ${r.fingerprint}\n`);
        for (const r of l.signed) process.stdout.write(`signed   ${r.node}  serial ${r.serial}  until ${r.notAfter}\n`);
        for (const r of l.revoked) process.stdout.write(`revoked  ${r.node}  serial ${r.serial}  at ${r.at}\n`);
        if (!l.pending.length && !l.signed.length && !l.revoked.length) process.stdout.write('no certificates or requests\n');
      } catch (err) { process.exitCode = fail(err); }
    });
  caOptions(ca.command('sign').description('sign the waiting certificate request of NODE').argument('<node>'))
    .option('--days <n>', 'validity in days', int, 365)
    .action(async (node: string, o: { caDir?: string; stateDir?: string; days: number }) => {
      try {
        const { loadCa, signNode } = await import('../server/ca.js');
        await signNode(await loadCa(caDirOf(o)), node, { days: o.days });
        process.stdout.write(`signed ${node}\n`);
      } catch (err) { process.exitCode = fail(err); }
    });
  caOptions(ca.command('revoke').description('revoke NODE\'s certificate: the server refuses it from its next request').argument('<node>'))
    .action(async (node: string, o: { caDir?: string; stateDir?: string }) => {
      try {
        const { revokeNode } = await import('../server/ca.js');
        const e = await revokeNode(caDirOf(o), node);
        process.stdout.write(`revoked ${node} (serial ${e.serial})\n`);
      } catch (err) { process.exitCode = fail(err); }
    });
  caOptions(ca.command('token').description('print a one-time join token: an agent started with --join-token TOKEN is signed at once'))
    .option('--ttl-hours <n>', 'hours the token stays valid', int, 24)
    .action(async (o: { caDir?: string; stateDir?: string; ttlHours: number }) => {
      try {
        const { createJoinToken } = await import('../server/join-tokens.js');
        process.stdout.write(await createJoinToken(caDirOf(o), o.ttlHours) + '\n');
      } catch (err) { process.exitCode = fail(err); }
    });

  caOptions(program.command('server').description('serve each node\'s catalogue of a fleet tree over mutual TLS (runs until stopped; SIGHUP reloads the tree)'))
    .requiredOption('--fleet <path>', 'the fleet tree (a directory with environments/)')
    .option('--host <address>', 'address to listen on', '0.0.0.0')
    .option('--port <n>', 'TCP port', int, DEFAULTS.serverPort)
    .option('--database <url>', 'PostgreSQL URL (postgres://...); default: embedded PostgreSQL (PGlite) in STATE_DIR/db')
    .option('--environment <env>', 'environment of the fleet tree (default: TSCONVERGE_ENVIRONMENT, else the only one)')
    .option('--secrets-dir <dir>', 'directory of secret files, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)')
    .option('--autosign <file>', 'sign requests at once for node names matching a glob in FILE (one per line)')
    .option('--agent-interval <seconds>', 'the agents\' run interval: no report within two of them -> unresponsive', int, 1800)
    .option('--report-retention <n>', 'reports kept per node', int, 100)
    .option('--watch', 'reload the fleet tree when it changes (SIGHUP always reloads)')
    .option('--dashboard <[host:]port>', 'serve the read-only web dashboard on its own listener (host default 127.0.0.1), e.g. 8141 or 127.0.0.1:8141', dashboardAddress)
    .option('--dashboard-token-file <file>', 'the dashboard login token (default: STATE_DIR/dashboard.token, made 0600 when absent)')
    .option('--dashboard-tls', 'serve the dashboard over HTTPS with the server\'s certificate; operator certificates log in without the token')
    .option('--compile-workers <n>', 'worker threads that compile catalogues (0: the main thread; default: one per core)', int)
    .action(async (o: ServerFlags, cmd: Command) => {
      process.exitCode = await serverCommand(o, cmd.optsWithGlobals());
    });

  program.command('nodes').description('list every node the server knows with its status (needs an operator certificate)')
    .requiredOption('--server <url>', 'the catalogue server, e.g. https://puppet.example.org:8140')
    .option('--ca-dir <dir>', 'a CA directory to take ca.crt, operator.crt and operator.key from (default: STATE_DIR/ca)')
    .option('--state-dir <dir>', 'state directory (default: TSCONVERGE_STATE_DIR, else /var/lib/tsconverge)')
    .option('--ca-file <file>', 'the CA certificate')
    .option('--cert <file>', 'operator certificate')
    .option('--key <file>', 'operator key')
    .addOption(new Option('--format <format>', 'output format').choices(['human', 'json']).default('human'))
    .action(async (o: { server: string; caDir?: string; stateDir?: string; caFile?: string; cert?: string; key?: string; format: string }) => {
      process.exitCode = await nodesCommand(o);
    });
}

interface ServerFlags {
  fleet: string; host: string; port: number; database?: string; environment?: string; secretsDir?: string; autosign?: string; agentInterval: number; reportRetention: number; watch?: boolean; caDir?: string; stateDir?: string; compileWorkers?: number;
  dashboard?: { host: string; port: number }; dashboardTokenFile?: string; dashboardTls?: boolean;
}

/** `--dashboard PORT`, `HOST:PORT` or `[IPv6]:PORT`; the host defaults to loopback. */
export function dashboardAddress(v: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`expected [HOST:]PORT (e.g. 8141 or 127.0.0.1:8141), got "${v}"`);
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port };
}

async function serverCommand(o: ServerFlags, globals: GlobalFlags): Promise<number> {
  const log = loggerFrom(globals);
  try {
    const { createCatalogueServer } = await import('../server/app.js');
    const { createFacts } = await import('../facts/facts.js');
    const stateDir = serverStateDir(o.stateDir);
    const server = await createCatalogueServer({
      fleet: o.fleet, stateDir, caDir: caDirOf(o), host: o.host, port: o.port, database: o.database, environment: o.environment,
      secrets: { dir: o.secretsDir }, autosignPolicy: o.autosign ? path.resolve(o.autosign) : undefined,
      agentIntervalSeconds: o.agentInterval, retention: o.reportRetention, compileWorkers: o.compileWorkers ?? availableParallelism(), validationFacts: await createFacts('/', { docker: false }), logger: log,
      ...(o.dashboard ? { dashboard: { ...o.dashboard, tokenFile: o.dashboardTokenFile ? path.resolve(o.dashboardTokenFile) : undefined, tls: o.dashboardTls } } : {}),
    });
    await server.app.listen({ host: o.host, port: o.port });
    const dashboardUrl = await server.dashboard?.listen();
    log.info(`listening on https://${o.host}:${o.port} (CA ${server.ca.fingerprint}, store ${server.store.kind}, code ${server.code.current?.version.slice(0, 19) ?? 'none'}, ${server.code.workers} compile worker threads)`);
    if (server.dashboard) log.info(`dashboard on ${dashboardUrl} (login token ${server.dashboard.tokenCreated ? 'created in' : 'in'} ${server.dashboard.tokenFile}${o.dashboardTls ? '; operator certificates log in too' : ''})`);
    if (o.dashboard && !o.dashboardTls && !/^(127\.|::1$|localhost$)/.test(o.dashboard.host)) {
      log.warn(`the dashboard listens on ${o.dashboard.host} over plain HTTP: its token and pages cross the network in clear (use --dashboard-tls, or keep it on 127.0.0.1 and use an SSH tunnel)`);
    }
    process.on('SIGHUP', () => { log.info('SIGHUP: reloading the fleet tree'); void server.reload(); });
    let timer: NodeJS.Timeout | undefined;
    // A watcher left open would keep the process alive after a stop.
    const watcher = o.watch ? watch(path.resolve(o.fleet), { recursive: true }, () => { clearTimeout(timer); timer = setTimeout(() => void server.reload(), 300); }) : undefined;
    await new Promise<void>((resolve) => {
      const stop = (sig: string): void => { log.info(`${sig}: stopping`); watcher?.close(); clearTimeout(timer); void server.close().finally(resolve); };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof TsconvergeError) { log.error(err.format()); return EXIT.NOT_RUN; }
    log.error(`cannot start the server: ${(err as Error).message}`);
    return EXIT.NOT_RUN;
  }
}

async function nodesCommand(o: { server: string; caDir?: string; stateDir?: string; caFile?: string; cert?: string; key?: string; format: string }): Promise<number> {
  try {
    const { request, jsonOf } = await import('../server/client.js');
    const dir = caDirOf(o);
    const read = (f: string): Promise<string> => readFile(f, 'utf8').catch((err: Error) => { throw new TsconvergeError('CA_ERROR', `cannot read ${f}: ${err.message}`, { hint: 'pass --ca-file, --cert and --key, or --ca-dir of a CA made by tsconverge ca init' }); });
    const tls = { ca: await read(o.caFile ?? path.join(dir, 'ca.crt')), cert: await read(o.cert ?? path.join(dir, 'operator.crt')), key: await read(o.key ?? path.join(dir, 'operator.key')) };
    // The server answers a page at a time (GET /v1/nodes?after=NAME): follow `next` to the end.
    let body: NodesAnswer & { error?: string; next?: string } | undefined;
    for (let after: string | undefined; ;) {
      const a = await request(o.server, after === undefined ? 'v1/nodes' : `v1/nodes?after=${encodeURIComponent(after)}`, tls, { timeoutMs: 15_000 });
      const page = jsonOf<NodesAnswer & { error?: string; next?: string }>(a);
      if (a.status !== 200) throw new TsconvergeError('CERT_REFUSED', `server answered ${a.status}: ${page.error ?? ''}`);
      if (body) for (const n of page.nodes) body.nodes.push(n); else body = page;
      if (page.next === undefined || page.next === after) break;
      after = page.next;
    }
    delete body.next;
    process.stdout.write(o.format === 'json' ? JSON.stringify(body, null, 2) + '\n' : formatNodes(body));
    return EXIT.OK;
  } catch (err) { return fail(err); }
}
