/**
 * The read-only dashboard: its own fastify instance on its own listener (`tsconverge
 * server --dashboard [HOST:]PORT`, 127.0.0.1 unless a host is given), never on the
 * agents' mutual-TLS port, so agents can never reach it and it can stay on loopback.
 *
 *   GET  /                 fleet overview, worst first; ?q=&status=&environment=&role= filter (no JavaScript needed)
 *   GET  /changes          the fleet's recent changes; ?resource=&cause=&node= filter
 *   GET  /nodes/:node      one node: runs, changed and failed resources, chart, facts, digests
 *   (both lists take ?refresh=SECONDS: static/dashboard.js refreshes them in place, keeping the filters)
 *   GET  /rollout          the current rollout: waves, their nodes and results, the audit trail (rollout-page.ts)
 *   GET  /login, POST /login, POST /logout
 *   GET  /assets/dashboard.css, /assets/dashboard.js   (from the package: no CDN)
 *
 * Everything but the login form and the two assets needs the token (auth.ts) or, on a
 * TLS listener (`--dashboard-tls`), an operator certificate; without either every page
 * answers 401 with the login form and nothing else. Wrong tokens (form or Bearer) are
 * limited per source address (auth.ts createLoginLimiter: 10 a minute, then 429 with the
 * wait on the login form and in Retry-After). Every answer carries a strict CSP
 * (scripts and styles from this origin only, no inline script), nosniff and
 * frame-ancestors 'none'.
 */
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type winston from 'winston';
import { readAssetText } from '../../core/assets.js';
import { identify } from '../auth.js';
import { NODE_NAME_MAX } from '../ca.js';
import {
  bearerOf,
  clearedCookie,
  createLoginLimiter,
  createSession,
  loadDashboardToken,
  parseCookies,
  safeNext,
  sameSecret,
  SESSION_COOKIE,
  sessionCookie,
  verifySession,
} from './auth.js';
import type { FleetView } from './fleet.js';
import {
  CACHED,
  changeEvents,
  changesPage,
  errorPage,
  loginPage,
  matches,
  nodePage,
  OVERVIEW_PAGE,
  overviewPage,
  refreshSeconds,
  type ChangesFilter,
  type OverviewFilter,
} from './pages.js';
import { STATUS_ORDER, type NodeStatus } from '../store.js';
import { rolloutPage } from './rollout-page.js';
import type { RolloutStatus } from '../rollout.js';

export const DEFAULT_DASHBOARD_PORT = 8141;
/** Reports of the whole fleet the recent-changes page reads. */
const RECENT_REPORTS = 300;

export interface DashboardOptions {
  readonly host: string;
  readonly port: number;
  readonly tokenFile: string;
  /** Serve HTTPS with the server's certificate; operator certificates of the CA log in without the token. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca: string; readonly isRevoked: (serial: string) => boolean };
  readonly fleet: FleetView;
  /** The rollout (GET /rollout); absent: the page says there is none. */
  readonly rollout?: () => Promise<RolloutStatus>;
  readonly log?: winston.Logger;
}

export interface Dashboard {
  readonly app: FastifyInstance;
  readonly tokenFile: string;
  readonly tokenCreated: boolean;
  /** Start listening; resolves with the dashboard's URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** `connect-src 'self'`: the auto-refresh fetches the page it is on. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const ASSETS: Record<string, { type: string; key: string }> = {
  'dashboard.css': { type: 'text/css; charset=utf-8', key: 'src/server/dashboard/static/dashboard.css' },
  'dashboard.js': { type: 'text/javascript; charset=utf-8', key: 'src/server/dashboard/static/dashboard.js' },
};

/** The asset's text: a SEA asset in the single executable, else the file in the package (src/ and dist/ are both three levels down). */
function assetText(key: string): string {
  return readAssetText(key, fileURLToPath(new URL(`../../../${key}`, import.meta.url)));
}

const str = { type: 'string', maxLength: 256 } as const;

export async function createDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { token, created } = await loadDashboardToken(opts.tokenFile);
  const assets = Object.fromEntries(Object.entries(ASSETS).map(([name, a]) => [name, { type: a.type, text: assetText(a.key) }]));
  const secure = opts.tls !== undefined;
  const app = Fastify({
    ...(opts.tls
      ? { https: { key: opts.tls.key, cert: opts.tls.cert, ca: [opts.tls.ca], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const } }
      : {}),
    bodyLimit: 16 * 1024,
    logger: false,
    return503OnClosing: true,
    routerOptions: { maxParamLength: NODE_NAME_MAX },
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const limiter = createLoginLimiter();
  /** A token given (form or Bearer) and checked against the limiter: true when right. */
  const tokenRight = (req: FastifyRequest, given: string): boolean => {
    if (sameSecret(given, token)) {
      limiter.succeeded(req.ip);
      return true;
    }
    limiter.failed(req.ip);
    opts.log?.warn(`dashboard: a wrong token from ${req.ip}`);
    return false;
  };
  const authenticated = (req: FastifyRequest): boolean => {
    if (opts.tls) {
      const id = identify(req, opts.tls.isRevoked);
      if ('kind' in id && id.kind === 'operator') return true;
    }
    const bearer = bearerOf(req.headers.authorization);
    if (bearer !== undefined) return tokenRight(req, bearer);
    return verifySession(parseCookies(req.headers.cookie).get(SESSION_COOKIE), token);
  };
  const html = (reply: FastifyReply, status: number, body: string): FastifyReply => reply.code(status).type('text/html; charset=utf-8').send(body);
  /** The seconds `req`'s address must wait before its next token, for the login form. */
  const waiting = (req: FastifyRequest): { waitSeconds?: number } => {
    const wait = Math.ceil(limiter.waitMs(req.ip) / 1000);
    return wait > 0 ? { waitSeconds: wait } : {};
  };
  /** The login form and 429 while `req`'s address must wait (the wait shown and in Retry-After); undefined when it may try. */
  const tooMany = (req: FastifyRequest, reply: FastifyReply, next: string): FastifyReply | undefined => {
    const { waitSeconds } = waiting(req);
    if (waitSeconds === undefined) return undefined;
    return html(reply.header('retry-after', String(waitSeconds)), 429, loginPage({ tokenFile: opts.tokenFile, next, waitSeconds }));
  };

  app.addHook('onSend', async (_req, reply, payload) => {
    reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cross-origin-resource-policy', 'same-origin');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.public) return;
    // A Bearer token from an address that must wait is not even compared.
    if (bearerOf(req.headers.authorization) !== undefined && tooMany(req, reply, safeNext(req.url))) return reply;
    if (authenticated(req)) {
      req.dashboardUser = true;
      return;
    }
    reply.header('www-authenticate', 'Bearer realm="tsconverge dashboard"');
    await html(reply, 401, loginPage({ tokenFile: opts.tokenFile, next: safeNext(req.url), ...waiting(req) }));
  });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) opts.log?.error(`dashboard ${req.method} ${req.routeOptions.url ?? 'unmatched'}: ${err.stack ?? err.message}`);
    return html(reply, status, errorPage(status, status >= 500 ? 'Internal error (see the server log)' : 'Bad request', req.dashboardUser === true));
  });
  app.setNotFoundHandler((req, reply) => html(reply, 404, errorPage(404, 'Not found', req.dashboardUser === true)));

  const pub = { public: true };
  app.get<{ Params: { name: string } }>('/assets/:name', { config: pub }, async (req, reply) => {
    const a = assets[req.params.name];
    if (!a) return html(reply, 404, errorPage(404, 'Not found', false));
    return reply.type(a.type).header('cache-control', 'no-cache').send(a.text);
  });
  app.get('/favicon.ico', { config: pub }, async (_req, reply) => reply.code(204).header('cache-control', 'max-age=86400').send());
  app.get<{ Querystring: { next?: string } }>(
    '/login',
    { config: pub, schema: { querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 2048 } } } } },
    async (req, reply) => {
      const next = safeNext(req.query.next);
      if (bearerOf(req.headers.authorization) !== undefined && tooMany(req, reply, next)) return reply;
      if (authenticated(req)) return reply.redirect(next, 303);
      return html(reply, 200, loginPage({ tokenFile: opts.tokenFile, next, ...waiting(req) }));
    },
  );
  app.post<{ Body: { token?: string; next?: string } }>(
    '/login',
    {
      config: pub,
      schema: { body: { type: 'object', properties: { token: { type: 'string', maxLength: 1024 }, next: { type: 'string', maxLength: 2048 } } } },
    },
    async (req, reply) => {
      const next = safeNext(req.body?.next);
      const limited = tooMany(req, reply, next);
      if (limited) return limited;
      if (typeof req.body?.token !== 'string' || !tokenRight(req, req.body.token.trim())) {
        return html(reply, 401, loginPage({ tokenFile: opts.tokenFile, next, error: 'That token is not the dashboard token.', ...waiting(req) }));
      }
      return reply.header('set-cookie', sessionCookie(createSession(token), secure)).redirect(next, 303);
    },
  );
  app.post('/logout', { config: pub }, async (_req, reply) => reply.header('set-cookie', clearedCookie(secure)).redirect('/login', 303));

  app.get<{ Querystring: OverviewFilter & { refresh?: string; page?: string } }>(
    '/',
    {
      schema: { querystring: { type: 'object', properties: { q: str, status: str, environment: str, role: str, refresh: str, page: str } } },
    },
    async (req, reply) => {
      const { page: pageArg, refresh: refreshArg, ...f } = req.query;
      const refresh = refreshSeconds(refreshArg);
      // The counts come from the store's index. A fleet that fits one page is shown whole and
      // filtered in the browser, as before; a larger one a page at a time, filtered by the store.
      const counts = await opts.fleet.counts();
      if (counts.total <= OVERVIEW_PAGE) return html(reply, 200, overviewPage(await opts.fleet.nodes(), f, opts.fleet.code(), Date.now(), refresh));
      const page = Math.max(0, Math.min(Number.parseInt(pageArg ?? '0', 10) || 0, 1_000_000));
      const paging = { counts: counts.byStatus, cached: counts.cached, total: counts.total, page };
      if (f.environment || f.role) {
        // Environment and role come from classifying each node with the served code: this
        // filter reads every node (the slow path, measured in docs/scale.md).
        const all = (await opts.fleet.nodes()).filter((n) => matches(n, f));
        const rows = all.slice(page * OVERVIEW_PAGE, (page + 1) * OVERVIEW_PAGE);
        return html(
          reply,
          200,
          overviewPage(rows, f, opts.fleet.code(), Date.now(), refresh, { ...paging, matching: all.length, more: all.length > (page + 1) * OVERVIEW_PAGE }),
        );
      }
      const status = f.status && f.status !== CACHED && (STATUS_ORDER as readonly string[]).includes(f.status) ? (f.status as NodeStatus) : undefined;
      if (f.status && f.status !== CACHED && !status)
        return html(reply, 200, overviewPage([], f, opts.fleet.code(), Date.now(), refresh, { ...paging, matching: 0, more: false }));
      const p = await opts.fleet.page({ limit: OVERVIEW_PAGE, offset: page * OVERVIEW_PAGE, status, q: f.q, cached: f.status === CACHED });
      const matching = !f.q ? (f.status === CACHED ? counts.cached : status ? counts.byStatus[status] : counts.total) : undefined;
      return html(
        reply,
        200,
        overviewPage(p.nodes, f, opts.fleet.code(), Date.now(), refresh, { ...paging, ...(matching !== undefined ? { matching } : {}), more: p.more }),
      );
    },
  );
  app.get<{ Querystring: ChangesFilter & { refresh?: string } }>(
    '/changes',
    {
      schema: { querystring: { type: 'object', properties: { resource: str, cause: str, node: str, refresh: str } } },
    },
    async (req, reply) => {
      const reports = await opts.fleet.recent(RECENT_REPORTS);
      return html(reply, 200, changesPage(changeEvents(reports), req.query, reports.length, Date.now(), refreshSeconds(req.query.refresh)));
    },
  );
  app.get<{ Params: { node: string } }>('/nodes/:node', { schema: { params: { type: 'object', properties: { node: str } } } }, async (req, reply) => {
    const d = await opts.fleet.node(req.params.node, 30);
    return d ? html(reply, 200, nodePage(d)) : html(reply, 404, errorPage(404, 'No such node', true));
  });

  app.get('/rollout', async (_req, reply) => html(reply, 200, rolloutPage(opts.rollout ? await opts.rollout() : { audit: [] })));

  let url = '';
  return {
    app,
    tokenFile: opts.tokenFile,
    tokenCreated: created,
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : opts.port;
      url = `${secure ? 'https' : 'http'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
      return url;
    },
    close: () => app.close(),
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    dashboardUser?: boolean;
  }
  interface FastifyContextConfig {
    public?: boolean;
  }
}
