/**
 * A small HTTPS client for the catalogue server (agents, `tsconverge nodes`, tests):
 * pins the CA, presents a client certificate when it has one, and bounds every request
 * by a connect timeout and a total timeout.
 */
import https from 'node:https';
import { TsconvergeError } from '../core/errors.js';

export interface ClientTls {
  /** The CA certificate (PEM) the server's certificate must chain to. */
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface RequestOptions {
  readonly method?: string;
  readonly json?: unknown;
  readonly headers?: Record<string, string>;
  /** Time to establish the TLS connection (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Time for the whole answer (default 30 s). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly agent?: https.Agent;
}

export function unreachable(url: string, message: string, cause?: unknown): TsconvergeError {
  return new TsconvergeError('SERVER_UNREACHABLE', `server ${url}: ${message}`, {
    cause,
    hint: 'check that the server runs and that this host reaches it (tsconverge server --port); the agent runs on its cached catalogue meanwhile',
  });
}

export function request(base: string, path: string, tls: ClientTls, opts: RequestOptions = {}): Promise<HttpAnswer> {
  const url = new URL(path, base.endsWith('/') ? base : base + '/');
  const payload = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? (payload ? 'POST' : 'GET'),
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        agent: opts.agent ?? false,
        headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...opts.headers },
        signal: opts.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(total);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => {
          clearTimeout(total);
          reject(unreachable(base, err.message, err));
        });
      },
    );
    const connect = setTimeout(() => req.destroy(new Error(`no connection within ${opts.connectTimeoutMs ?? 5000} ms`)), opts.connectTimeoutMs ?? 5000);
    const total = setTimeout(() => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 30_000} ms`)), opts.timeoutMs ?? 30_000);
    req.on('socket', (s) => {
      // A fresh socket connects first; a kept-alive one is connected already.
      if (s.connecting || (s as { _handle?: unknown })._handle === null) s.once('secureConnect', () => clearTimeout(connect));
      else clearTimeout(connect);
    });
    req.on('error', (err) => {
      clearTimeout(connect);
      clearTimeout(total);
      reject(unreachable(base, err.message, err));
    });
    req.end(payload);
  });
}

/** The answer's body as JSON, or an error naming the status. */
export function jsonOf<T>(a: HttpAnswer): T {
  try {
    return JSON.parse(a.body.toString('utf8')) as T;
  } catch {
    throw new TsconvergeError('SERVER_UNREACHABLE', `server answered ${a.status} with a body that is not JSON`);
  }
}
