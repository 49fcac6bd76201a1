/**
 * The agent's catalogue source when it is given `--server URL` (several: tried in order).
 *
 * Enrolment (first contact): the agent fetches the CA certificate and checks it against
 * the fingerprint it was given (`--ca-fingerprint sha256:...`), or takes `--ca-file`;
 * creates its key (STATE_DIR/ssl/NODE.key, 0600) and a certificate request, sends it, and
 * waits until the CA signs it. Every later request is mutual TLS with that certificate.
 *
 * Each run: send the facts, get the catalogue (or 304 when the cached one is current),
 * verify its signature BEFORE parsing anything to apply: made by a certificate of the
 * pinned CA that carries the catalogue-signing purpose (the server's; never a node's or an
 * operator's, wire.ts). Refuse one for another node, issued in the future (beyond the clock
 * skew) or older than the cached one, then keep it as last-known-good (STATE_DIR/catalogue/:
 * the exact bytes and their signature, verified again with the same rules on every read, so
 * a flipped byte, a foreign signer or a future date in the cache is refused too, and a
 * refused cache never stands in the way of a fresh catalogue). When every server is unreachable,
 * black-holed (connect timeout) or answers 5xx, the cached catalogue is used and the
 * result says so (`cached: true`, `error`); with no cache the load fails and the run
 * changes nothing.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { TsconvergeError } from '../core/errors.js';
import { stateLayout } from '../core/state-layout.js';
import type { Facts } from '../facts/facts.js';
import { createKeyAndCsr, fingerprintOf, writeAtomic } from '../server/ca.js';
import { jsonOf, request, type ClientTls, type HttpAnswer } from '../server/client.js';
import { catalogueOf, parseDocument, SIGNATURE_HEADER, SIGNER_HEADER, verifySignedBody, type CatalogueDocument } from '../server/wire.js';

import type { CatalogueSource, SourceResult } from './source-types.js';

export interface ServerSourceOptions {
  readonly servers: readonly string[];
  readonly node: string;
  readonly stateDir: string;
  readonly caFingerprint?: string;
  readonly caFile?: string;
  readonly joinToken?: string;
  /** Time to reach a server (default 5 s): a black-holed server costs no more than this. */
  readonly connectTimeoutMs?: number;
  /** Time for a whole answer (default 30 s). */
  readonly timeoutMs?: number;
  /** How long enrolment waits for the CA to sign (default 0: one try; the next run asks again). */
  readonly waitForCertMs?: number;
  readonly pollMs?: number;
}

function refused(message: string, hint?: string): TsconvergeError {
  return new TsconvergeError('CERT_REFUSED', message, { terminal: true, hint });
}

/** The cached signed catalogue: its bytes and its signature (core/state-layout.ts). */
function cachePaths(stateDir: string): { dir: string; body: string; meta: string } {
  const l = stateLayout(stateDir);
  return { dir: l.catalogueDir, body: l.serverCatalogue, meta: l.serverCatalogueSignature };
}

const exists = (f: string): Promise<boolean> =>
  stat(f).then(
    () => true,
    () => false,
  );

/** Fetch the CA over TLS without trusting it yet, and keep it only if its fingerprint is the pinned one. */
async function pinCa(opts: ServerSourceOptions): Promise<string> {
  const p = stateLayout(opts.stateDir).ssl(opts.node);
  const check = (pem: string, from: string): string => {
    if (opts.caFingerprint !== undefined && fingerprintOf(pem).toLowerCase() !== opts.caFingerprint.toLowerCase()) {
      throw refused(
        `the CA from ${from} has fingerprint ${fingerprintOf(pem)}, not the pinned ${opts.caFingerprint}`,
        'check --ca-fingerprint against `tsconverge ca fingerprint` on the server; nothing was trusted',
      );
    }
    return pem;
  };
  if (opts.caFile) return check(await readFile(opts.caFile, 'utf8'), opts.caFile);
  if (await exists(p.ca)) return check(await readFile(p.ca, 'utf8'), p.ca);
  if (!opts.caFingerprint)
    throw refused(
      'no CA to trust: pass --ca-fingerprint sha256:... or --ca-file',
      'the server prints its fingerprint at `tsconverge ca init` and `tsconverge ca fingerprint`',
    );
  let last: unknown;
  for (const server of opts.servers) {
    try {
      // Not yet trusted: the fingerprint check below is what makes it trusted.
      const a = await insecureGet(server, 'v1/ca', opts.connectTimeoutMs ?? 5000);
      if (a.status !== 200) throw refused(`server ${server} answered ${a.status} for its CA`);
      const pem = check(a.body.toString('utf8'), server);
      await writeAtomic(p.ca, pem, 0o644);
      return pem;
    } catch (err) {
      last = err;
      if (err instanceof TsconvergeError && err.code === 'CERT_REFUSED') throw err;
    }
  }
  throw last instanceof TsconvergeError ? last : refused(`no server answered: ${String(last)}`);
}

async function insecureGet(server: string, p: string, connectTimeoutMs: number): Promise<HttpAnswer> {
  const https = await import('node:https');
  const url = new URL(p, server.endsWith('/') ? server : server + '/');
  return new Promise((resolve, reject) => {
    const req = https.request(url, { rejectUnauthorized: false, agent: false, timeout: connectTimeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${connectTimeoutMs} ms`)));
    req.on('error', (err) => reject(new TsconvergeError('SERVER_UNREACHABLE', `server ${server}: ${err.message}`, { cause: err })));
    req.end();
  });
}

/** Key, certificate and CA for mutual TLS; enrols when there is no certificate yet. */
export async function enrol(opts: ServerSourceOptions, signal?: AbortSignal): Promise<ClientTls> {
  const p = stateLayout(opts.stateDir).ssl(opts.node);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  const ca = await pinCa(opts);
  if ((await exists(p.cert)) && (await exists(p.key))) return { ca, cert: await readFile(p.cert, 'utf8'), key: await readFile(p.key, 'utf8') };
  let csr: string;
  if ((await exists(p.key)) && (await exists(p.csr))) csr = await readFile(p.csr, 'utf8');
  else {
    const made = await createKeyAndCsr(opts.node);
    await writeAtomic(p.key, made.keyPem, 0o600);
    await writeAtomic(p.csr, made.csrPem, 0o644);
    csr = made.csrPem;
  }
  const deadline = Date.now() + (opts.waitForCertMs ?? 0);
  let submitted = false;
  for (;;) {
    for (const server of opts.servers) {
      try {
        const a = submitted
          ? await request(server, `v1/certificates/${opts.node}`, { ca }, { connectTimeoutMs: opts.connectTimeoutMs, signal })
          : await request(
              server,
              `v1/certificate_requests/${opts.node}`,
              { ca },
              { method: 'PUT', json: { csr, ...(opts.joinToken ? { token: opts.joinToken } : {}) }, connectTimeoutMs: opts.connectTimeoutMs, signal },
            );
        const body = jsonOf<{ state?: string; certificate?: string; error?: string; hint?: string }>(a);
        if (a.status === 200 && body.certificate) {
          await writeAtomic(p.cert, body.certificate, 0o644);
          return { ca, cert: body.certificate, key: await readFile(p.key, 'utf8') };
        }
        if (a.status === 202 || (a.status === 404 && body.state === 'pending')) {
          submitted = true;
          break;
        }
        if (a.status === 404 && submitted) {
          submitted = false;
          break;
        }
        throw refused(`server ${server} refused the certificate request: ${body.error ?? a.status}`, body.hint);
      } catch (err) {
        if (err instanceof TsconvergeError && err.code === 'CERT_REFUSED') throw err;
        if (server === opts.servers[opts.servers.length - 1]) throw err;
      }
    }
    if (Date.now() >= deadline || signal?.aborted) {
      throw refused(
        `the certificate of ${opts.node} is not signed yet`,
        `on the server: tsconverge ca sign ${opts.node} (or start the server with --autosign, or give the agent a --join-token)`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
  }
}

interface CacheMeta {
  readonly etag: string;
  readonly signature: string;
  readonly signer: string;
}

/** Facts that change between runs without changing the catalogue (the server's VOLATILE_FACTS). */
function withoutVolatile(facts: Facts): Omit<Facts, 'uptimeSeconds'> {
  const { uptimeSeconds: _volatile, ...stable } = facts;
  return stable;
}

export class ServerSource implements CatalogueSource {
  private tls: ClientTls | undefined;
  constructor(private readonly opts: ServerSourceOptions) {}

  /** The last-known-good catalogue, verified again from its bytes; undefined when there is none. */
  async cached(): Promise<{ doc: CatalogueDocument; etag: string } | undefined> {
    const c = cachePaths(this.opts.stateDir);
    if (!(await exists(c.body))) return undefined;
    const ca = this.tls?.ca ?? (await readFile(this.opts.caFile ?? stateLayout(this.opts.stateDir).ssl(this.opts.node).ca, 'utf8'));
    const body = await readFile(c.body);
    const meta = JSON.parse(await readFile(c.meta, 'utf8')) as CacheMeta;
    verifySignedBody(body, meta.signature, meta.signer, ca);
    return { doc: parseDocument(body, this.opts.node), etag: meta.etag };
  }

  async load(facts: Facts, signal: AbortSignal): Promise<SourceResult> {
    let fresh: SourceResult | undefined;
    let error: TsconvergeError | undefined;
    try {
      fresh = await this.fetch(facts, signal);
    } catch (err) {
      error = err instanceof TsconvergeError ? err : new TsconvergeError('SERVER_UNREACHABLE', (err as Error).message, { cause: err });
      // A catalogue that fails verification, or a refused certificate, is never papered over by the cache silently: it is reported with it.
    }
    if (fresh) return fresh;
    let cached;
    try {
      cached = await this.cached();
    } catch (err) {
      throw new TsconvergeError('CATALOGUE_REFUSED', `${error!.message}; and the cached catalogue is refused: ${(err as Error).message}`, {
        cause: err,
        terminal: true,
        hint: 'nothing was applied',
      });
    }
    if (!cached)
      throw new TsconvergeError(error!.code, `${error!.message}; no cached catalogue to run on`, { cause: error, hint: error!.hint ?? 'nothing was applied' });
    return { catalogue: catalogueOf(cached.doc), digest: cached.doc.version, cached: true, error, codeVersion: cached.doc.codeVersion };
  }

  private async fetch(facts: Facts, signal: AbortSignal): Promise<SourceResult> {
    this.tls ??= await enrol(this.opts, signal);
    const tls = this.tls;
    let prior: { doc: CatalogueDocument; etag: string } | undefined;
    try {
      prior = await this.cached();
    } catch {
      prior = undefined; /* a bad cache is replaced by a fresh, verified one */
    }
    let last: TsconvergeError | undefined;
    for (const server of this.opts.servers) {
      let a: HttpAnswer;
      try {
        a = await request(server, `v1/nodes/${encodeURIComponent(this.opts.node)}/catalogue`, tls, {
          // Without the uptime (the server ignores it): the same facts are the same bytes, run after run.
          json: { facts: withoutVolatile(facts) },
          headers: prior ? { 'if-none-match': `"${prior.etag}"` } : {},
          connectTimeoutMs: this.opts.connectTimeoutMs,
          timeoutMs: this.opts.timeoutMs,
          signal,
        });
      } catch (err) {
        last = err as TsconvergeError;
        continue;
      }
      if (a.status >= 500) {
        last = new TsconvergeError('SERVER_UNREACHABLE', `server ${server} answered ${a.status}`);
        continue;
      }
      if (a.status === 304 && prior) return { catalogue: catalogueOf(prior.doc), digest: prior.doc.version, cached: false, codeVersion: prior.doc.codeVersion };
      if (a.status === 401 || a.status === 403)
        throw refused(
          `server ${server} refused this agent's certificate (${a.status}): ${a.body.toString('utf8').slice(0, 200)}`,
          `on the server: tsconverge ca list; a revoked node enrols again after removing ${stateLayout(this.opts.stateDir).ssl(this.opts.node).cert}`,
        );
      if (a.status !== 200)
        throw new TsconvergeError('CATALOGUE_REFUSED', `server ${server} answered ${a.status}: ${a.body.toString('utf8').slice(0, 2000)}`, { terminal: true });
      const signature = a.headers[SIGNATURE_HEADER] as string | undefined;
      const signer = a.headers[SIGNER_HEADER] as string | undefined;
      verifySignedBody(a.body, signature, signer, tls.ca);
      const doc = parseDocument(a.body, this.opts.node);
      if (prior && doc.version !== prior.doc.version && Date.parse(doc.issuedAt) < Date.parse(prior.doc.issuedAt)) {
        throw new TsconvergeError(
          'CATALOGUE_REFUSED',
          `the catalogue from ${server} (issued ${doc.issuedAt}) is older than the one last applied (issued ${prior.doc.issuedAt})`,
          { terminal: true, hint: 'a replayed or stale catalogue; nothing was applied' },
        );
      }
      const etag = 'sha256:' + createHash('sha256').update(a.body).digest('hex');
      const c = cachePaths(this.opts.stateDir);
      await mkdir(c.dir, { recursive: true, mode: 0o700 });
      // The catalogue holds this node's secrets: owner-only, like its key.
      await writeAtomic(c.body, a.body.toString('utf8'), 0o600);
      await writeAtomic(c.meta, JSON.stringify({ etag, signature: signature!, signer: signer! } satisfies CacheMeta) + '\n', 0o600);
      return { catalogue: catalogueOf(doc), digest: doc.version, cached: false, codeVersion: doc.codeVersion };
    }
    throw last ?? new TsconvergeError('SERVER_UNREACHABLE', 'no server given');
  }

  /** Send a run report (best effort: a failure is returned, never thrown). */
  async sendReport(report: unknown): Promise<TsconvergeError | undefined> {
    return this.post(`v1/nodes/${encodeURIComponent(this.opts.node)}/reports`, report, 'POST');
  }

  async sendFacts(facts: Facts): Promise<TsconvergeError | undefined> {
    return this.post(`v1/nodes/${encodeURIComponent(this.opts.node)}/facts`, { facts }, 'PUT');
  }

  private async post(p: string, json: unknown, method: string): Promise<TsconvergeError | undefined> {
    let last: TsconvergeError | undefined;
    try {
      this.tls ??= await enrol(this.opts);
    } catch (err) {
      return err as TsconvergeError;
    }
    for (const server of this.opts.servers) {
      try {
        const a = await request(server, p, this.tls, { method, json, connectTimeoutMs: this.opts.connectTimeoutMs, timeoutMs: this.opts.timeoutMs });
        if (a.status < 300) return undefined;
        last = new TsconvergeError('SERVER_UNREACHABLE', `server ${server} answered ${a.status}: ${a.body.toString('utf8').slice(0, 300)}`);
      } catch (err) {
        last = err as TsconvergeError;
      }
    }
    return last;
  }
}
