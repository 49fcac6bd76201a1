/**
 * `tsconverge server`: serve each node's catalogue of a fleet tree over mutual TLS until
 * stopped (src/server/app.ts). Its command line: src/cli/commands/server.ts.
 */
import { watch } from 'node:fs';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { TsconvergeError } from '../core/errors.js';
import { loggerFrom, type GlobalFlags } from './common.js';
import { EXIT } from './exit.js';
import { caDirOf, serverStateDir } from './ca.js';

export interface ServerFlags {
  fleet: string;
  host: string;
  port: number;
  database?: string;
  environment?: string;
  secretsDir?: string;
  autosign?: string;
  agentInterval: number;
  reportRetention: number;
  watch?: boolean;
  caDir?: string;
  stateDir?: string;
  compileWorkers?: number;
  dashboard?: { host: string; port: number };
  dashboardTokenFile?: string;
  dashboardTls?: boolean;
}

export async function serverCommand(o: ServerFlags, globals: GlobalFlags): Promise<number> {
  const log = loggerFrom(globals);
  try {
    const { createCatalogueServer } = await import('../server/app.js');
    const { createFacts } = await import('../facts/facts.js');
    const stateDir = serverStateDir(o.stateDir);
    const server = await createCatalogueServer({
      fleet: o.fleet,
      stateDir,
      caDir: caDirOf(o),
      host: o.host,
      port: o.port,
      database: o.database,
      environment: o.environment,
      secrets: { dir: o.secretsDir },
      autosignPolicy: o.autosign ? path.resolve(o.autosign) : undefined,
      agentIntervalSeconds: o.agentInterval,
      retention: o.reportRetention,
      compileWorkers: o.compileWorkers ?? availableParallelism(),
      validationFacts: await createFacts('/', { docker: false }),
      logger: log,
      ...(o.dashboard
        ? { dashboard: { ...o.dashboard, tokenFile: o.dashboardTokenFile ? path.resolve(o.dashboardTokenFile) : undefined, tls: o.dashboardTls } }
        : {}),
    });
    await server.app.listen({ host: o.host, port: o.port });
    const dashboardUrl = await server.dashboard?.listen();
    log.info(
      `listening on https://${o.host}:${o.port} (CA ${server.ca.fingerprint}, store ${server.store.kind}, code ${server.code.current?.version.slice(0, 19) ?? 'none'}, ${server.code.workers} compile worker threads)`,
    );
    if (server.dashboard)
      log.info(
        `dashboard on ${dashboardUrl} (login token ${server.dashboard.tokenCreated ? 'created in' : 'in'} ${server.dashboard.tokenFile}${o.dashboardTls ? '; operator certificates log in too' : ''})`,
      );
    if (o.dashboard && !o.dashboardTls && !/^(127\.|::1$|localhost$)/.test(o.dashboard.host)) {
      log.warn(
        `the dashboard listens on ${o.dashboard.host} over plain HTTP: its token and pages cross the network in clear (use --dashboard-tls, or keep it on 127.0.0.1 and use an SSH tunnel)`,
      );
    }
    process.on('SIGHUP', () => {
      log.info('SIGHUP: reloading the fleet tree');
      void server.reload();
    });
    let timer: NodeJS.Timeout | undefined;
    // A watcher left open would keep the process alive after a stop.
    const watcher = o.watch
      ? watch(path.resolve(o.fleet), { recursive: true }, () => {
          clearTimeout(timer);
          timer = setTimeout(() => void server.reload(), 300);
        })
      : undefined;
    await new Promise<void>((resolve) => {
      const stop = (sig: string): void => {
        log.info(`${sig}: stopping`);
        watcher?.close();
        clearTimeout(timer);
        void server.close().finally(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof TsconvergeError) {
      log.error(err.format());
      return EXIT.NOT_RUN;
    }
    log.error(`cannot start the server: ${(err as Error).message}`);
    return EXIT.NOT_RUN;
  }
}
