/**
 * The catalogue server: fastify over HTTPS with mutual TLS. Every route is a plugin;
 * the auth hook (auth.ts) admits a request by its client certificate, per route:
 *   none      GET /v1/health, enrolment (routes/enrol.ts)
 *   node      the node's own catalogue, facts and reports (routes/catalogue.ts, nodes.ts)
 *   operator  GET /v1/nodes, /metrics
 * Errors answer JSON `{ error }`: 400 with the reason for malformed input, never a stack.
 * Every JSON body passes the door (door.ts): bounded depth, storable strings, a schema.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type winston from 'winston';
import { canSignCatalogues, caPaths, createRevocationCheck, loadCa, NODE_NAME_MAX, reissueServerCert, type Ca } from './ca.js';
import { boundedJsonParser, loadWireSchemas } from './door.js';
import { createAuthHook } from './auth.js';
import { CodeManager } from './code.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { openStore, type Store } from './store.js';
import { listenWhileStarting } from './starting.js';
import { enrolRoutes } from './routes/enrol.js';
import { catalogueRoutes } from './routes/catalogue.js';
import { nodeRoutes, unresponsiveAfterMs } from './routes/nodes.js';
import { rolloutRoutes } from './routes/rollout.js';
import { Rollouts } from './rollout.js';
import { loadRolloutPolicy } from '../catalogue/rollout.js';
import type { Dashboard } from './dashboard/index.js';
import type { Facts } from '../facts/facts.js';
import type { SecretStoreOptions } from '../catalogue/secrets.js';

export interface ServerOptions {
  readonly fleet: string;
  readonly stateDir: string;
  readonly caDir: string;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly environment?: string;
  readonly secrets?: SecretStoreOptions;
  readonly autosignPolicy?: string;
  /** The agents' run interval: a node with no report within two of them is unresponsive. */
  readonly agentIntervalSeconds?: number;
  readonly retention?: number;
  /** The read-only dashboard on its own listener (src/server/dashboard/); off when absent. */
  readonly dashboard?: { readonly host: string; readonly port: number; readonly tokenFile?: string; readonly tls?: boolean };
  /** Compile worker threads (default 0: compiles in the main thread; the CLI's default is one per core). */
  readonly compileWorkers?: number;
  readonly validationFacts: Facts;
  readonly logger?: winston.Logger;
}

export interface CatalogueServer {
  readonly app: FastifyInstance;
  readonly code: CodeManager;
  readonly store: Store;
  readonly rollouts: Rollouts;
  readonly metrics: ServerMetrics;
  readonly ca: Ca;
  readonly dashboard?: Dashboard;
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

export async function createCatalogueServer(opts: ServerOptions): Promise<CatalogueServer> {
  const ca = await loadCa(opts.caDir);
  const p = caPaths(opts.caDir);
  const log = opts.logger;
  const serverKeyPem = await readFile(p.serverKey, 'utf8');
  let serverCertPem = await readFile(p.serverCert, 'utf8');
  // A certificate made before catalogue signing had its own purpose: agents refuse what it signs. The CA key is here: issue it again.
  if (!canSignCatalogues(serverCertPem)) {
    try {
      serverCertPem = await reissueServerCert(ca);
      log?.warn(
        `${p.serverCert} did not carry the catalogue-signing purpose that agents require: issued it again for the same key and names (the old one is ${p.serverCert}.old)`,
      );
    } catch (err) {
      log?.error(
        `${p.serverCert} lacks the catalogue-signing purpose and cannot be issued again (${(err as Error).message}): agents refuse the catalogues it signs; run \`tsconverge ca reissue-server\` where the CA directory is writable`,
      );
    }
  }
  loadWireSchemas();
  const metrics = createMetrics();
  const code = new CodeManager({
    fleet: path.resolve(opts.fleet),
    stateDir: opts.stateDir,
    environment: opts.environment,
    secrets: opts.secrets,
    serverKeyPem,
    validationFacts: opts.validationFacts,
    compileWorkers: opts.compileWorkers,
    onWorkerError: (m) => log?.warn(m),
    onCompile: (s) => {
      metrics.compileSeconds.observe(s);
      metrics.cataloguesCompiled.inc();
    },
  });
  // Set once the store is open (code loads meanwhile); recordCode waits for both.
  const ready: { store?: Store; rollouts?: Rollouts } = {};
  /** A new code version is recorded in the store: it starts a rollout when the tree has a rollout.yaml (rollout.ts). */
  const recordCode = async (): Promise<void> => {
    const { rollouts, store: st } = ready;
    if (!rollouts || !st || !code.current) return;
    const current = code.current;
    try {
      const policy = await loadRolloutPolicy(current.dir);
      await rollouts.onCode(
        current.version,
        policy,
        async () => (await st.db.query<{ node: string; facts: unknown }>('select name as node, facts from nodes')).rows,
      );
    } catch (err) {
      log?.error(`cannot record code version ${current.version.slice(0, 19)} for rollouts: ${(err as Error).message}`);
    }
  };
  const reload = async (): Promise<boolean> => {
    const ok = await code.reload();
    metrics.codeReloads.inc({ result: ok ? 'ok' : 'failed' });
    // Recorded first (a rollout starts, or the version is stable): what the log line says is what nodes get.
    if (ok) await recordCode();
    if (ok)
      log?.info(
        `serving fleet code ${code.current!.version.slice(0, 19)} (${code.current!.nodes} named nodes compiled)${ready.rollouts?.strict ? `; rollout ${ready.rollouts.current!.id}, ${ready.rollouts.current!.state}` : ''}`,
      );
    else log?.error(`fleet tree ${opts.fleet} does not compile; still serving ${code.current?.version.slice(0, 19) ?? 'nothing'}:\n${code.lastError!.message}`);
    return ok;
  };
  // The fleet code compiles and the store opens at once; meanwhile the port answers 503
  // "starting" (starting.ts) and the log says what the start waits for (a first start
  // creates the embedded database).
  const dbDir = path.join(opts.stateDir, 'db');
  const firstStart = !opts.database && !existsSync(dbDir);
  const waiting = new Set(['fleet code', 'store']);
  const early =
    opts.host && opts.port
      ? await listenWhileStarting({
          host: opts.host,
          port: opts.port,
          key: serverKeyPem,
          cert: serverCertPem,
          waitingFor: () => [...waiting],
          onError: (err) => log?.debug(`no early /v1/health: ${err.message}`),
        })
      : undefined;
  log?.info(
    `starting: compiling the fleet tree ${opts.fleet} and opening the store (${opts.database ? 'PostgreSQL' : firstStart ? `first start: creating the embedded PostgreSQL database in ${dbDir}, 10-20 s` : `embedded PostgreSQL in ${dbDir}`})${early ? `; until both are ready https://${opts.host}:${opts.port}/v1/health answers 503 "starting"` : ''}`,
  );
  const started = Date.now();
  let store: Store;
  try {
    [, store] = await Promise.all([
      reload().finally(() => waiting.delete('fleet code')),
      openStore({ database: opts.database, dataDir: opts.stateDir, retention: opts.retention }).then((s) => {
        waiting.delete('store');
        log?.info(`store open (${s.kind}) after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return s;
      }),
    ]);
  } finally {
    await early?.close();
  }
  const rollouts = new Rollouts(store, log);
  Object.assign(ready, { store, rollouts });
  await rollouts.refresh();
  await recordCode();
  rollouts.start();
  const { Gauge } = await import('prom-client');
  new Gauge({
    name: 'tsconverge_rollout_state',
    help: 'The newest rollout (docs/rollout.md): 1 for its state, 0 for the others; none: no rollout yet',
    labelNames: ['state'] as const,
    registers: [metrics.registry],
    collect() {
      for (const s of ['none', 'rolling', 'halted', 'reverted', 'done', 'superseded'])
        this.set({ state: s }, (rollouts.current?.state ?? 'none') === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tsconverge_rollout_wave',
    help: "The newest rollout's current wave (0 is the first)",
    registers: [metrics.registry],
    collect() {
      this.set(rollouts.current?.wave ?? 0);
    },
  });

  const app = Fastify({
    https: { key: serverKeyPem, cert: serverCertPem, ca: [ca.certPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    bodyLimit: 1024 * 1024,
    // A node name as long as NODE_NAME allows is one path parameter (find-my-way's default, 100, answered 414).
    routerOptions: { maxParamLength: NODE_NAME_MAX },
    logger: false,
    return503OnClosing: true,
    keepAliveTimeout: 65_000,
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, boundedJsonParser(app));
  app.addHook('onRequest', createAuthHook(createRevocationCheck(opts.caDir)));
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, code: String(reply.statusCode) });
    metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const reason = err.validation ? `invalid request: ${err.message}` : err.message;
      return reply.code(status).send({ error: reason });
    }
    log?.error(`${req.method} ${req.routeOptions.url ?? req.url}: ${err.stack ?? err.message}`);
    return reply.code(500).send({ error: 'internal server error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  app.get('/v1/health', { config: { auth: 'none' } }, async () => ({
    status: 'ok',
    codeVersion: code.current?.version ?? null,
    codeError: code.lastError !== undefined,
    store: store.kind,
  }));
  app.get('/metrics', { config: { auth: 'operator' } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  await app.register(enrolRoutes, { ca, autosignPolicy: opts.autosignPolicy });
  await app.register(catalogueRoutes, { code, store, metrics, rollouts, signerDerB64: new X509Certificate(serverCertPem).raw.toString('base64') });
  await app.register(nodeRoutes, { code, store, metrics, agentIntervalSeconds: opts.agentIntervalSeconds ?? 1800 });
  await app.register(rolloutRoutes, { rollouts, store, agentIntervalSeconds: opts.agentIntervalSeconds ?? 1800 });

  const { createFleetView, registerFleetGauges } = await import('./dashboard/fleet.js');
  const unresponsive = unresponsiveAfterMs(opts.agentIntervalSeconds ?? 1800);
  registerFleetGauges(metrics.registry, store, unresponsive);
  let dashboard: Dashboard | undefined;
  if (opts.dashboard) {
    const { createDashboard } = await import('./dashboard/index.js');
    dashboard = await createDashboard({
      ...opts.dashboard,
      tokenFile: opts.dashboard.tokenFile ?? path.join(opts.stateDir, 'dashboard.token'),
      log,
      tls: opts.dashboard.tls ? { key: serverKeyPem, cert: serverCertPem, ca: ca.certPem, isRevoked: createRevocationCheck(opts.caDir) } : undefined,
      fleet: createFleetView({ code, store, environment: opts.environment, unresponsiveAfterMs: unresponsive }),
      rollout: async () => rollouts.status(await store.listNodes(unresponsive)),
    });
  }

  return {
    app,
    code,
    store,
    rollouts,
    metrics,
    ca,
    reload,
    dashboard,
    close: async () => {
      await Promise.all([app.close(), dashboard?.close()]);
      await rollouts.close();
      await store.close();
      await code.close();
    },
  };
}
