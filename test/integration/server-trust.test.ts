/**
 * The fleet's trust boundary (issue 21), attacked the way a compromised host or a party on
 * the network would, against a real server process over real mutual TLS, with a real
 * PostgreSQL store and the real dashboard:
 *   - a relay that re-signs a rewritten catalogue for hs-a with hs-b's node key (a year
 *     ahead), and one that serves a future-dated catalogue: refused, and neither blocks the
 *     real catalogue, not even from the agent's cache;
 *   - a facts data file holding a !secret: the tree is refused at load with file:line;
 *   - malformed facts, reports and certificate requests (NUL, lone surrogates, 100,000-deep
 *     nesting, wrong types, generated junk): 400 with the reason, never 500, nothing stored,
 *     and the dashboard keeps working, also over a malformed report already in the store;
 *   - a join token sent with a refused request stays valid;
 *   - dashboard logins are limited per source address, with the wait on the login page;
 *   - node names as long as the pattern allows work everywhere;
 *   - upgrade: a server certificate made before catalogue signing had its own purpose is
 *     issued again at start (or by `tsconverge ca reissue-server`).
 */
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, createPrivateKey, sign } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import winston from 'winston';
import fc from 'fast-check';
import * as x509 from '@peculiar/x509';
import { ALG, canSignCatalogues, caPaths, createKeyAndCsr, exportKeyPem, generateKeys, initCa, loadCa, NODE_NAME_MAX } from '../../src/server/ca.js';
import { writeLegacyServerCert } from '../../src/server/ca.testkit.js';
import { request, type ClientTls } from '../../src/server/client.js';
import { SIGNATURE_HEADER, SIGNER_HEADER } from '../../src/server/wire.js';
import { ServerSource } from '../../src/agent/server-source.js';
import { openStore } from '../../src/server/store.js';
import { runCatalogue } from '../../src/engine/run.js';
import { createProviderRegistry } from '../../src/providers/container.js';
import { freePort, runCli } from '../support/harness.js';
import { agentTls, nodeFacts, operatorTls, startPostgres, startServer, tempDir, writeFleet, type PgCluster, type ServerProc } from '../support/server.js';

const SECRET = 'hs-trust-secret-4711';
const LONG = `hs-${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(NODE_NAME_MAX - 186)}`;
const work = tempDir('trust');
const fleet = path.join(work, 'fleet');
const caDir = path.join(work, 'state', 'ca');
const log = winston.createLogger({ silent: true });
let pg: PgCluster;
let server: ServerProc;
let dash: string;
let token: string;
let fingerprint: string;
let relay: https.Server;
let relayUrl: string;
/** What the relay does to hs-a's catalogue request (set per test). */
let forge: () => Promise<{ body: Buffer; signature: string; signer: string }>;

interface Host {
  readonly node: string;
  readonly root: string;
  readonly state: string;
}
const host = (node: string): Host => ({ node, root: path.join(work, `root-${node.slice(0, 40)}`), state: path.join(work, `state-${node.slice(0, 40)}`) });
const a = host('hs-a');
const b = host('hs-b');
const source = (h: Host, servers = [server.url]): ServerSource =>
  new ServerSource({
    servers,
    node: h.node,
    stateDir: h.state,
    caFingerprint: fingerprint,
    connectTimeoutMs: 10_000,
    timeoutMs: 60_000 /* a loaded machine compiles slowly */,
  });
const motd = (h: Host): string => readFileSync(path.join(h.root, 'etc/motd'), 'utf8');
const cacheOf = (h: Host) => ({ body: path.join(h.state, 'catalogue/catalogue.json'), meta: path.join(h.state, 'catalogue/catalogue.sig.json') });

/** One agent run through `src`: the real engine on the host's root, the report sent to the real server. */
async function run(h: Host, src = source(h), facts = nodeFacts(h.node)) {
  const got = await src.load(facts, new AbortController().signal);
  const report = await runCatalogue(got.catalogue, createProviderRegistry(), { noop: false, root: h.root, log, facts });
  expect(
    await source(h).sendReport({
      ...report,
      node: h.node,
      cachedCatalogue: got.cached,
      ...(got.error ? { catalogueError: got.error.toJSON() } : {}),
      agent: { enabled: true },
    }),
  ).toBeUndefined();
  return { got, report };
}

/** A body the way a hostile client writes it: raw JSON text, with or without a client certificate. */
function raw(p: string, body: string, tls: ClientTls, method = 'POST'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${server.url}/${p}`,
      { method, ...tls, agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A dashboard request from a chosen loopback source address. */
function dashboard(
  p: string,
  opts: { from?: string; method?: string; form?: Record<string, string>; bearer?: string } = {},
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${dash}${p}`,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        localAddress: opts.from ?? '127.0.0.3',
        agent: false,
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } : {}),
          ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A TLS certificate the CA issued for a relay's transport (serverAuth, 127.0.0.1), as a load balancer in front of the server would hold. */
async function relayCertificate(): Promise<{ key: string; cert: string }> {
  const ca = await loadCa(caDir);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '7e1a',
    subject: 'CN=relay',
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
    ],
  });
  return { key: await exportKeyPem(keys.privateKey), cert: cert.toString('pem') };
}

const yearAhead = (): string => new Date(Date.now() + 365 * 86_400_000).toISOString();

/** hs-b's real catalogue, rewritten for hs-a (its motd replaced), issued a year ahead, signed with hs-b's own key. */
async function resignedByNode(): Promise<{ body: Buffer; signature: string; signer: string }> {
  const tlsB = agentTls(b.state, b.node);
  const real = await request(server.url, 'v1/nodes/hs-b/catalogue', tlsB, { json: { facts: nodeFacts('hs-b') } });
  const doc = JSON.parse(real.body.toString());
  doc.node = 'hs-a';
  doc.issuedAt = yearAhead();
  doc.version = 'sha256:' + 'e'.repeat(64);
  for (const r of doc.resources) if (r.id === 'file[motd]') r.attrs.content = 'owned by the relay\n';
  const body = Buffer.from(JSON.stringify(doc));
  return {
    body,
    signature: sign('sha256', body, createPrivateKey(tlsB.key!)).toString('base64'),
    signer: Buffer.from(x509.PemConverter.decodeFirst(tlsB.cert!)).toString('base64'),
  };
}

/** hs-a's real catalogue, dated a year ahead and signed with the server's own key: only the date is wrong. */
async function futureDated(): Promise<{ body: Buffer; signature: string; signer: string }> {
  const real = await request(server.url, 'v1/nodes/hs-a/catalogue', agentTls(a.state, a.node), { json: { facts: nodeFacts('hs-a') } });
  const body = Buffer.from(JSON.stringify({ ...JSON.parse(real.body.toString()), issuedAt: yearAhead(), version: 'sha256:' + 'f'.repeat(64) }));
  return {
    body,
    signature: sign('sha256', body, createPrivateKey(readFileSync(caPaths(caDir).serverKey))).toString('base64'),
    signer: real.headers[SIGNER_HEADER] as string,
  };
}

/** Put a forged catalogue into `h`'s cache, as an agent before this fix kept it. */
async function plant(h: Host, f: () => Promise<{ body: Buffer; signature: string; signer: string }>): Promise<void> {
  const forged = await f();
  writeFileSync(cacheOf(h).body, forged.body);
  writeFileSync(
    cacheOf(h).meta,
    JSON.stringify({ etag: 'sha256:' + createHash('sha256').update(forged.body).digest('hex'), signature: forged.signature, signer: forged.signer }),
  );
}

async function reload(): Promise<string> {
  const at = server.log().length;
  server.proc.kill('SIGHUP');
  for (let i = 0; i < 1200 && !/serving fleet code|does not compile/.test(server.log().slice(at)); i++) await new Promise((r) => setTimeout(r, 100));
  return server.log().slice(at);
}

beforeAll(async () => {
  pg = await startPostgres();
  writeFleet(fleet, 'hello');
  // The longest name has data of its own: its data/nodes/NAME.yaml fits a file name.
  writeFileSync(path.join(fleet, `environments/production/data/nodes/${LONG}.yaml`), 'motd:\n  message: "the longest name"\n');
  fingerprint = (await initCa(caDir)).fingerprint;
  writeFileSync(path.join(work, 'autosign'), 'hs-*\n');
  const port = await freePort();
  const dashPort = await freePort();
  dash = `http://127.0.0.1:${dashPort}`;
  server = await startServer(
    [
      '--fleet',
      fleet,
      '--state-dir',
      path.join(work, 'state'),
      '--database',
      pg.url,
      '--autosign',
      path.join(work, 'autosign'),
      '--agent-interval',
      '600',
      '--dashboard',
      `127.0.0.1:${dashPort}`,
    ],
    port,
    { TSCONVERGE_SECRET_HS_TOKEN: SECRET },
  );
  for (let i = 0; i < 100 && !/dashboard on/.test(server.log()); i++) await new Promise((r) => setTimeout(r, 100));
  token = readFileSync(path.join(work, 'state', 'dashboard.token'), 'utf8').trim();
  for (const h of [a, b]) {
    mkdirSync(h.root, { recursive: true });
    await run(h);
  }
  expect(motd(a)).toBe('hello\n');
  expect(readFileSync(path.join(a.root, 'etc/token'), 'utf8')).toBe(SECRET);

  const tls = await relayCertificate();
  relay = https.createServer(tls, (req, res) => {
    req.resume();
    req.on('end', () => {
      void forge().then(
        (f) => res.writeHead(200, { 'content-type': 'application/json', [SIGNATURE_HEADER]: f.signature, [SIGNER_HEADER]: f.signer }).end(f.body),
        (err: Error) => res.writeHead(502).end(err.message),
      );
    });
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayUrl = `https://127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
}, 420_000);

afterAll(async () => {
  relay?.close();
  await server?.stop();
  pg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('only the server signs catalogues', () => {
  it("a relay that re-signs a catalogue with another node's key is refused; the host keeps its real catalogue", async () => {
    forge = resignedByNode;
    const cached = readFileSync(cacheOf(a).body);
    const { got } = await run(a, source(a, [relayUrl]));
    expect(got.cached).toBe(true);
    expect(got.error?.code).toBe('CATALOGUE_REFUSED');
    expect(got.error?.message).toMatch(/signed by CN=hs-b, a certificate that may not sign catalogues/);
    expect(motd(a)).toBe('hello\n');
    expect(readFileSync(cacheOf(a).body)).toEqual(cached);
    // A host with no cache gets nothing from the relay at all.
    const fresh = host('hs-a-fresh');
    await source(fresh).load(nodeFacts(fresh.node), new AbortController().signal); // enrols, and caches its real catalogue
    rmSync(path.join(fresh.state, 'catalogue'), { recursive: true });
    await expect(source(fresh, [relayUrl]).load(nodeFacts(fresh.node), new AbortController().signal)).rejects.toThrow(
      /may not sign catalogues.*no cached catalogue/s,
    );
    expect(existsSync(path.join(fresh.state, 'catalogue'))).toBe(false);
  });

  it("the forgery already in an agent's cache neither runs nor blocks the server's next catalogue", async () => {
    await plant(a, resignedByNode);
    // Server gone: the forged cache is refused, nothing runs.
    const dead = new ServerSource({ servers: ['https://127.0.0.1:1'], node: 'hs-a', stateDir: a.state, caFingerprint: fingerprint, connectTimeoutMs: 500 });
    await expect(dead.load(nodeFacts('hs-a'), new AbortController().signal)).rejects.toThrow(/cached catalogue is refused.*may not sign catalogues/s);
    // The server's next catalogue (a year "older" than the forgery) is applied and replaces it.
    writeFleet(fleet, 'hello v2');
    expect(await reload()).toMatch(/serving fleet code/);
    const { got } = await run(a);
    expect(got.cached).toBe(false);
    expect(got.error).toBeUndefined();
    expect(motd(a)).toBe('hello v2\n');
    expect(readFileSync(cacheOf(a).body, 'utf8')).not.toContain('owned by the relay');
  });

  it("a future-dated catalogue is refused even with the server's signature, and does not block the real one from the cache", async () => {
    forge = futureDated;
    const { got } = await run(a, source(a, [relayUrl]));
    expect(got.cached).toBe(true);
    expect(got.error?.message).toMatch(/issued in the future/);
    await plant(a, futureDated);
    const next = await run(a);
    expect(next.got.cached).toBe(false);
    expect(next.got.error).toBeUndefined();
    expect(Date.parse(JSON.parse(readFileSync(cacheOf(a).body, 'utf8')).issuedAt)).toBeLessThanOrEqual(Date.now());
  });
});

describe('facts never select secrets', () => {
  it('a facts data file holding a !secret is refused at load with its file and line; a node claiming the fact gets no secret', async () => {
    const file = path.join(fleet, 'environments/production/data/facts/os.codename/vault.yaml');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'motd:\n  token: !secret hs_token\n');
    try {
      const logged = await reload();
      expect(logged).toMatch(/does not compile/);
      expect(logged).toContain(`${file}:2:`);
      expect(logged).toMatch(/a data file selected by a fact \(facts os\.codename=vault\) cannot hold a secret/);
      const health = JSON.parse((await request(server.url, 'v1/health', { ca: readFileSync(path.join(caDir, 'ca.crt'), 'utf8') })).body.toString());
      expect(health.codeError).toBe(true);
      const liar = await run(b, source(b), nodeFacts('hs-b', { os: { codename: 'vault' } }));
      expect(liar.got.cached).toBe(false);
      expect(existsSync(path.join(b.root, 'etc/token'))).toBe(false);
      expect(readFileSync(cacheOf(b).body, 'utf8')).not.toContain(SECRET);
    } finally {
      rmSync(path.dirname(path.dirname(file)), { recursive: true });
      expect(await reload()).toMatch(/serving fleet code/);
    }
  });
});

describe('what a node sends is checked at the door', () => {
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  const facts = (extra: string): string => `{"facts":{"hostname":"hs-b"${extra}}}`;
  const report = (extra: string): string => `{"formatVersion":1,"startedAt":"2026-12-04T10:00:00.000Z"${extra}}`;
  const cases: [string, string, string, RegExp][] = [
    ['a NUL in facts', 'v1/nodes/hs-b/catalogue', facts(',"note":"a\\u0000b"'), /\/facts\/note holds a NUL character/],
    ['a lone surrogate in facts', 'v1/nodes/hs-b/catalogue', facts(',"note":"\\ud800"'), /\/facts\/note holds a lone surrogate/],
    ['facts nested 100,000 deep', 'v1/nodes/hs-b/catalogue', facts(`,"x":${deep(100_000)}`), /nests deeper than 100 levels/],
    ['"hostname": 123', 'v1/nodes/hs-b/catalogue', '{"facts":{"hostname":123}}', /facts\/hostname: must be string/],
    ['a NUL key in stored facts', 'v1/nodes/hs-b/facts', facts(',"a\\u0000":1'), /key at \/facts\/a\\u0000 holds a NUL/],
    ['stored facts nested 100,000 deep', 'v1/nodes/hs-b/facts', facts(`,"x":${deep(100_000)}`), /nests deeper/],
    ['a number where a report has a time', 'v1/nodes/hs-b/reports', '{"formatVersion":1,"startedAt":1733306400000}', /field startedAt: must be string/],
    ["a report's changes as a string", 'v1/nodes/hs-b/reports', report(',"changes":"all of them"'), /field changes: must be object/],
    ['a NUL in a report', 'v1/nodes/hs-b/reports', report(',"resources":[{"id":"file[a\\u0000]"}]'), /\/resources\/0\/id holds a NUL/],
    ['a lone surrogate in a report', 'v1/nodes/hs-b/reports', report(',"error":{"message":"\\udfff"}'), /lone surrogate/],
    ['a report nested 100,000 deep', 'v1/nodes/hs-b/reports', report(`,"x":${deep(100_000)}`), /nests deeper/],
  ];
  it.each(cases)('%s: 400 with the reason, nothing stored', async (_n, p, body, reason) => {
    const method = p.endsWith('/facts') ? 'PUT' : 'POST';
    const before = (await request(server.url, 'v1/nodes/hs-b/reports?limit=1000', operatorTls(caDir))).body.toString();
    const r = await raw(p, body, agentTls(b.state, b.node), method);
    expect(r.status, r.text).toBe(400);
    expect(JSON.parse(r.text).error).toMatch(reason);
    expect(r.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d/);
    expect((await request(server.url, 'v1/nodes/hs-b/reports?limit=1000', operatorTls(caDir))).body.toString()).toBe(before);
    expect((await request(server.url, 'v1/nodes/hs-b/facts', operatorTls(caDir))).body.toString()).not.toMatch(/"note"|"a\\u0000"|"x"/);
  });

  it.each([
    ['a request that is not PEM', '{"csr":"hello"}', /field csr: must match/],
    ['a NUL in the request', '{"csr":"-----BEGIN CERTIFICATE REQUEST-----\\u0000-----END CERTIFICATE REQUEST-----"}', /\/csr holds a NUL/],
    ['a request nested 5,000 deep (within its 16 KiB)', `{"csr":${deep(5_000)}}`, /nests deeper/],
    ['a field it does not know', '{"csr":"x","admin":true}', /unknown field "admin"/],
  ])('enrolment, %s: 400 with the reason', async (_n, body, reason) => {
    const r = await raw('v1/certificate_requests/hs-enrol-x', body, { ca: readFileSync(path.join(caDir, 'ca.crt'), 'utf8') }, 'PUT');
    expect(r.status, r.text).toBe(400);
    expect(JSON.parse(r.text).error).toMatch(reason);
  });

  it('no body a node can send makes the server answer 500 (generated JSON, lone surrogates and NULs included)', async () => {
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const values = fc.sample(fc.jsonValue({ maxDepth: 6, stringUnit: unit }), { numRuns: 60, seed: 2112 });
    const tls = agentTls(b.state, b.node);
    const statuses = new Set<number>();
    for (const v of values) {
      for (const [p, method, json] of [
        ['v1/nodes/hs-b/catalogue', 'POST', { facts: { hostname: 'hs-b', junk: v } }],
        ['v1/nodes/hs-b/catalogue', 'POST', { facts: v }],
        ['v1/nodes/hs-b/facts', 'PUT', { facts: v }],
        ['v1/nodes/hs-b/reports', 'POST', v],
        ['v1/nodes/hs-b/reports', 'POST', { formatVersion: 1, resources: v }],
      ] as const) {
        const r = await request(server.url, p, tls, { method, json });
        expect(r.status, `${method} ${p} ${JSON.stringify(json).slice(0, 300)}: ${r.body.toString().slice(0, 300)}`).toBeLessThan(500);
        statuses.add(r.status);
      }
      const e = await request(server.url, 'v1/certificate_requests/hs-fuzz', { ca: tls.ca }, { method: 'PUT', json: { csr: v } });
      expect(e.status).toBeLessThan(500);
    }
    expect([...statuses]).toEqual(expect.arrayContaining([200, 400]));
    expect(server.log()).not.toMatch(/internal server error|POST \/v1|PUT \/v1/);
  });

  it('the dashboard keeps working, also over a malformed report stored before the door existed', async () => {
    // A row as an old server stored it (the store is shared PostgreSQL: written beside the running server).
    const store = await openStore({ database: pg.url, dataDir: path.join(work, 'direct') });
    await store.addReport('hs-b', { formatVersion: 1, startedAt: 1733306400000, changes: 'all of them', summary: 'none', resources: 'nope' });
    await store.close();
    const page = await dashboard('/nodes/hs-b', { bearer: token });
    expect(page.status, page.text.slice(0, 500)).toBe(200);
    expect(page.text).toMatch(/1 stored report\(s\) of this node are not shown/);
    expect((await dashboard('/', { bearer: token })).status).toBe(200);
    const metrics = (await request(server.url, 'metrics', operatorTls(caDir))).body.toString();
    expect(metrics).not.toMatch(/tsconverge_http_requests_total\{[^}]*code="5\d\d"\}/);
  });
});

describe('enrolment', () => {
  it('a join token sent with a refused request stays valid; the request that succeeds uses it up', async () => {
    const joinToken = (await runCli(['ca', 'token', '--ca-dir', caDir])).stdout.trim();
    const anon = { ca: readFileSync(path.join(caDir, 'ca.crt'), 'utf8') };
    const put = async (node: string, csrFor: string) =>
      request(server.url, `v1/certificate_requests/${node}`, anon, { method: 'PUT', json: { csr: (await createKeyAndCsr(csrFor)).csrPem, token: joinToken } });
    const refused = await put('tok-1', 'tok-2');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body.toString()).error).toMatch(/CN=tok-2, not tok-1/);
    const signed = await put('tok-1', 'tok-1');
    expect(signed.status, signed.body.toString()).toBe(200);
    expect(JSON.parse(signed.body.toString()).state).toBe('signed');
    expect((await put('tok-3', 'tok-3')).status).toBe(202); // used up: waits for `ca sign`
  });

  it('node names as long as the pattern allows work everywhere: enrolment, catalogue, node data, report, listing, dashboard', async () => {
    expect(LONG.length).toBe(NODE_NAME_MAX);
    const h = host(LONG);
    mkdirSync(h.root, { recursive: true });
    const { got } = await run(h);
    expect(got.cached).toBe(false);
    expect(motd(h)).toBe('the longest name\n');
    const nodes = JSON.parse((await request(server.url, 'v1/nodes', operatorTls(caDir))).body.toString()).nodes as { node: string; status: string }[];
    expect(nodes.find((n) => n.node === LONG)?.status).toBe('intentional change');
    expect((await request(server.url, `v1/nodes/${LONG}/status`, agentTls(h.state, LONG))).status).toBe(200);
    const page = await dashboard(`/nodes/${LONG}`, { bearer: token });
    expect(page.status).toBe(200);
    expect(page.text).toContain(LONG);
    // One character more is refused everywhere: by the agent before it makes a key, by the server's routes.
    await expect(createKeyAndCsr(`${LONG}e`)).rejects.toThrow(/invalid node name/);
    const r = await request(
      server.url,
      `v1/certificate_requests/${LONG}e`,
      { ca: readFileSync(path.join(caDir, 'ca.crt'), 'utf8') },
      { method: 'PUT', json: { csr: (await createKeyAndCsr('x')).csrPem } },
    );
    expect([400, 414]).toContain(r.status);
  });
});

describe('dashboard logins', () => {
  it('are limited per source address, the wait shown on the login page; another address still logs in', async () => {
    const from = '127.0.0.1';
    for (let i = 0; i < 10; i++) expect((await dashboard('/login', { from, form: { token: `wrong-${i}-0123456789abcdef` } })).status).toBe(401);
    const limited = await dashboard('/login', { from, form: { token: 'wrong-again-0123456789abcdef' } });
    expect(limited.status).toBe(429);
    const wait = Number(limited.headers['retry-after']);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect(limited.text).toMatch(/Too many wrong tokens from your address: try again in <span id="wait-seconds">\d+<\/span> seconds/);
    // While it waits, not even the right token is compared: not in the form, not as a Bearer token.
    expect((await dashboard('/login', { from, form: { token } })).status).toBe(429);
    expect((await dashboard('/', { from, bearer: token })).status).toBe(429);
    expect((await dashboard('/login', { from })).text).toMatch(/try again in/);
    // Guessing is now as slow as the limit: 100 more tries, every one refused unanswered.
    const t0 = Date.now();
    for (let i = 0; i < 100; i++) expect((await dashboard('/', { from, bearer: `guess-${i}-0123456789abcdef` })).status).toBe(429);
    expect(Date.now() - t0).toBeLessThan(60_000);
    // Another source address is not held up by the first one's failures.
    const other = await dashboard('/login', { from: '127.0.0.2', form: { token, next: '/' } });
    expect(other.status).toBe(303);
    expect(String(other.headers['set-cookie'])).toMatch(/tsconverge_dashboard=/);
  });
});

describe('upgrade: a server certificate from before catalogue signing had its own purpose', () => {
  it("the server issues it again at start; an agent's cache signed by the old certificate is refused and replaced", async () => {
    const dir = path.join(work, 'upgrade');
    const fp = (await initCa(path.join(dir, 'ca'))).fingerprint;
    const legacy = await writeLegacyServerCert(path.join(dir, 'ca'));
    const crt = caPaths(path.join(dir, 'ca')).serverCert;
    const old = await startServer(['--fleet', fleet, '--state-dir', dir, '--autosign', path.join(work, 'autosign')], await freePort(), {
      TSCONVERGE_SECRET_HS_TOKEN: SECRET,
    });
    try {
      expect(old.log()).toMatch(/did not carry the catalogue-signing purpose that agents require: issued it again for the same key and names/);
      expect(canSignCatalogues(readFileSync(crt, 'utf8'))).toBe(true);
      expect(readFileSync(`${crt}.old`, 'utf8')).toBe(legacy);
      const h = host('hs-upgraded');
      const src = new ServerSource({ servers: [old.url], node: h.node, stateDir: h.state, caFingerprint: fp, connectTimeoutMs: 10_000 });
      expect((await src.load(nodeFacts(h.node), new AbortController().signal)).cached).toBe(false);
      // The cache as the agent kept it before the upgrade: the same server key signed it, the old certificate named as signer.
      const meta = JSON.parse(readFileSync(cacheOf(h).meta, 'utf8'));
      writeFileSync(cacheOf(h).meta, JSON.stringify({ ...meta, signer: Buffer.from(x509.PemConverter.decodeFirst(legacy)).toString('base64') }));
      const offline = new ServerSource({ servers: ['https://127.0.0.1:1'], node: h.node, stateDir: h.state, caFingerprint: fp, connectTimeoutMs: 500 });
      await expect(offline.load(nodeFacts(h.node), new AbortController().signal)).rejects.toThrow(/cached catalogue is refused.*may not sign catalogues/s);
      const again = await src.load(nodeFacts(h.node), new AbortController().signal);
      expect(again.cached).toBe(false);
      expect(JSON.parse(readFileSync(cacheOf(h).meta, 'utf8')).signer).toBe(
        Buffer.from(x509.PemConverter.decodeFirst(readFileSync(crt, 'utf8'))).toString('base64'),
      );
    } finally {
      await old.stop();
    }
  }, 300_000);

  it('`tsconverge ca reissue-server` does it by hand, adding names', async () => {
    const dir = path.join(work, 'reissue');
    await initCa(dir);
    const legacy = await writeLegacyServerCert(dir);
    const r = await runCli(['ca', 'reissue-server', '--ca-dir', dir, '--hostname', 'catalogue.example.org']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/issued .*server\.crt again .*DNS:catalogue\.example\.org/);
    const pem = readFileSync(caPaths(dir).serverCert, 'utf8');
    expect(canSignCatalogues(pem)).toBe(true);
    expect(new x509.X509Certificate(pem).publicKey.rawData).toEqual(new x509.X509Certificate(legacy).publicKey.rawData);
  });
});
