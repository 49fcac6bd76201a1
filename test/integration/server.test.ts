/**
 * The catalogue server as a real process over real mutual TLS, with real enrolment
 * through its CA, an embedded (PGlite) store, and agents' server sources converging real
 * files in their own temp roots through the real engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import winston from 'winston';
import { initCa, issueNodeCert, loadCa, createKeyAndCsr } from '../../src/server/ca.js';
import { request, type ClientTls } from '../../src/server/client.js';
import { verifySignedBody, SIGNATURE_HEADER, SIGNER_HEADER } from '../../src/server/wire.js';
import { ServerSource, enrol } from '../../src/agent/server-source.js';
import { stateLayout } from '../../src/core/state-layout.js';
import { runCatalogue } from '../../src/engine/run.js';
import { createProviderRegistry } from '../../src/providers/container.js';
import type { Facts } from '../../src/facts/facts.js';
import { runCli, freePort } from '../support/harness.js';
import { agentTls, nodeFacts, operatorTls, startServer, tempDir, writeFleet, type ServerProc } from '../support/server.js';

const PORT = await freePort();
const SECRET = 'hs-very-secret-token-4711';
const work = tempDir('srv');
const fleet = path.join(work, 'fleet');
const caDir = path.join(work, 'state', 'ca');
const policy = path.join(work, 'autosign.txt');
const log = winston.createLogger({ silent: true });
let server: ServerProc;
let fingerprint: string;

const factsOf = (node: string): Facts => nodeFacts(node);

interface Host {
  readonly node: string;
  readonly root: string;
  readonly state: string;
  readonly source: ServerSource;
}
const hostDirs: string[] = [];
function host(node: string, servers = [server.url], extra: { connectTimeoutMs?: number } = {}): Host {
  const root = tempDir(`root-${node}`);
  const state = tempDir(`state-${node}`);
  hostDirs.push(root, state);
  return {
    node,
    root,
    state,
    source: new ServerSource({
      servers,
      node,
      stateDir: state,
      caFingerprint: fingerprint,
      connectTimeoutMs: extra.connectTimeoutMs ?? 3000,
      timeoutMs: 10_000,
    }),
  };
}

/** One agent run: load from the server source, converge the host's root with the real engine, report. */
async function agentRun(h: Host) {
  const facts = factsOf(h.node);
  const src = await h.source.load(facts, new AbortController().signal);
  const report = await runCatalogue(src.catalogue, createProviderRegistry(), { noop: false, root: h.root, log, facts });
  const full = {
    ...report,
    node: h.node,
    catalogueDigest: src.digest,
    cachedCatalogue: src.cached,
    ...(src.error ? { catalogueError: src.error.toJSON() } : {}),
    codeVersion: src.codeVersion,
    agent: { enabled: true },
  };
  expect(await h.source.sendReport(full)).toBeUndefined();
  return { src, report };
}

const motd = (h: Host): string => readFileSync(path.join(h.root, 'etc/motd'), 'utf8');

async function tlsOf(h: Host): Promise<ClientTls> {
  return agentTls(h.state, h.node);
}

let a: Host;
let b: Host;

beforeAll(async () => {
  writeFleet(fleet, 'hello v1');
  fingerprint = (await initCa(caDir)).fingerprint;
  writeFileSync(policy, '# autosign\nhs-a*\n');
  server = await startServer(['--fleet', fleet, '--state-dir', path.join(work, 'state'), '--autosign', policy, '--agent-interval', '60'], PORT, {
    TSCONVERGE_SECRET_HS_TOKEN: SECRET,
  });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  for (const d of [work, ...hostDirs]) rmSync(d, { recursive: true, force: true });
});

describe('enrolment', () => {
  it('without a certificate only health and enrolment answer', async () => {
    const anon = { ca: readFileSync(path.join(caDir, 'ca.crt'), 'utf8') };
    expect((await request(server.url, 'v1/health', anon)).status).toBe(200);
    for (const [method, p] of [
      ['GET', 'v1/nodes'],
      ['GET', 'metrics'],
      ['POST', 'v1/nodes/hs-a/catalogue'],
      ['GET', 'v1/nodes/hs-a/reports'],
      ['GET', 'v1/nodes/hs-a/facts'],
      ['GET', 'v1/nodes/hs-a/status'],
    ] as const) {
      const r = await request(server.url, p, anon, { method, ...(method === 'POST' ? { json: { facts: { hostname: 'hs-a' } } } : {}) });
      expect(r.status, p).toBe(401);
    }
  });

  it('a wrong fingerprint is refused before anything is trusted or sent', async () => {
    const h = host('hs-a9');
    const bad = new ServerSource({ servers: [server.url], node: 'hs-a9', stateDir: h.state, caFingerprint: 'sha256:' + '0'.repeat(64) });
    await expect(bad.load(factsOf('hs-a9'), new AbortController().signal)).rejects.toThrow(/fingerprint/);
    expect(existsSync(stateLayout(h.state).ssl('hs-a9').key)).toBe(false);
  });

  it('autosign by policy; others wait for `ca sign`', async () => {
    a = host('hs-a');
    b = host('hs-b');
    await enrol({ servers: [server.url], node: 'hs-a', stateDir: a.state, caFingerprint: fingerprint });
    expect(readFileSync(stateLayout(a.state).ssl('hs-a').key).length).toBeGreaterThan(0);
    expect((await import('node:fs')).statSync(stateLayout(a.state).ssl('hs-a').key).mode & 0o777).toBe(0o600);
    await expect(b.source.load(factsOf('hs-b'), new AbortController().signal)).rejects.toThrow(/not signed yet/);
    const listed = await runCli(['ca', 'list', '--ca-dir', caDir]);
    expect(listed.stdout).toMatch(/pending\s+hs-b/);
    expect(listed.stdout).toMatch(/signed\s+hs-a/);
    expect((await runCli(['ca', 'sign', 'hs-b', '--ca-dir', caDir])).code).toBe(0);
  });

  it('a one-time join token signs at once, once', async () => {
    const token = (await runCli(['ca', 'token', '--ca-dir', caDir])).stdout.trim();
    const first = host('hs-t1');
    await enrol({ servers: [server.url], node: 'hs-t1', stateDir: first.state, caFingerprint: fingerprint, joinToken: token });
    expect(existsSync(stateLayout(first.state).ssl('hs-t1').cert)).toBe(true);
    const second = host('hs-t2');
    await expect(enrol({ servers: [server.url], node: 'hs-t2', stateDir: second.state, caFingerprint: fingerprint, joinToken: token })).rejects.toThrow(
      /not signed yet/,
    );
  });
});

describe('catalogues', () => {
  it('each agent converges its own catalogue; secrets reach only the node that uses them', async () => {
    const ra = await agentRun(a);
    expect(ra.report.summary.failed).toBe(0);
    expect(motd(a)).toBe('hello v1\n');
    expect(readFileSync(path.join(a.root, 'etc/token'), 'utf8')).toBe(SECRET);
    await agentRun(b);
    expect(motd(b)).toBe('hello v1\n');
    expect(existsSync(path.join(b.root, 'etc/token'))).toBe(false);
    expect(readFileSync(path.join(b.state, 'catalogue/catalogue.json'), 'utf8')).not.toContain(SECRET);
  });

  it('a repeat request with If-None-Match gets 304 and no body', async () => {
    const tls = await tlsOf(a);
    const first = await request(server.url, 'v1/nodes/hs-a/catalogue', tls, { json: { facts: factsOf('hs-a') } });
    expect(first.status).toBe(200);
    const etag = first.headers.etag as string;
    const again = await request(server.url, 'v1/nodes/hs-a/catalogue', tls, { json: { facts: factsOf('hs-a') }, headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it('a flipped byte in a served catalogue fails verification', async () => {
    const tls = await tlsOf(a);
    const r = await request(server.url, 'v1/nodes/hs-a/catalogue', tls, { json: { facts: factsOf('hs-a') } });
    verifySignedBody(r.body, r.headers[SIGNATURE_HEADER] as string, r.headers[SIGNER_HEADER] as string, tls.ca);
    const flipped = Buffer.from(r.body);
    flipped[flipped.indexOf('hello v1')] ^= 1;
    expect(() => verifySignedBody(flipped, r.headers[SIGNATURE_HEADER] as string, r.headers[SIGNER_HEADER] as string, tls.ca)).toThrow(/tampered/);
  });
});

describe('a tampering proxy between agent and server', () => {
  it('a flipped byte in the served catalogue is refused before any change', async () => {
    const https = await import('node:https');
    const h = host('hs-a3');
    await enrol({ servers: [server.url], node: 'hs-a3', stateDir: h.state, caFingerprint: fingerprint });
    const upstream = await tlsOf(h);
    // The proxy holds the server's own certificate and the agent's: only the signature can tell.
    const proxy = https.createServer({ key: readFileSync(path.join(caDir, 'server.key')), cert: readFileSync(path.join(caDir, 'server.crt')) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void request(server.url, req.url!.slice(1), upstream, {
          method: req.method,
          json: chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined,
        }).then((a) => {
          const body = Buffer.from(a.body);
          const at = body.indexOf('hello');
          if (at >= 0) body[at] ^= 1;
          for (const [k, v] of Object.entries(a.headers)) if (v !== undefined && k !== 'content-length' && k !== 'connection') res.setHeader(k, v);
          res.writeHead(a.status).end(body);
        });
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    try {
      const src = new ServerSource({ servers: [`https://127.0.0.1:${proxyPort}`], node: 'hs-a3', stateDir: h.state, caFingerprint: fingerprint });
      await expect(src.load(factsOf('hs-a3'), new AbortController().signal)).rejects.toThrow(/tampered/);
      expect(existsSync(path.join(h.state, 'catalogue'))).toBe(false);
      expect(existsSync(path.join(h.root, 'etc'))).toBe(false);
    } finally {
      proxy.close();
    }
  });
});

describe('node isolation', () => {
  it("node A's certificate gets 403 from every per-node endpoint of node B", async () => {
    const tls = await tlsOf(a);
    const calls: [string, string, unknown?][] = [
      ['POST', 'v1/nodes/hs-b/catalogue', { facts: { hostname: 'hs-b' } }],
      ['PUT', 'v1/nodes/hs-b/facts', { facts: { hostname: 'hs-b' } }],
      ['GET', 'v1/nodes/hs-b/facts'],
      ['POST', 'v1/nodes/hs-b/reports', { formatVersion: 1 }],
      ['GET', 'v1/nodes/hs-b/reports'],
      ['GET', 'v1/nodes/hs-b/status'],
      ['GET', 'v1/nodes'],
      ['GET', 'metrics'],
    ];
    for (const [method, p, json] of calls) {
      const r = await request(server.url, p, tls, { method, json });
      expect(r.status, `${method} ${p}`).toBe(403);
      expect(r.body.toString()).not.toMatch(/hello|hs_token|bookworm/);
    }
  });

  it.each([
    'v1/nodes/hs-a%2f..%2fhs-b/catalogue',
    'v1/nodes/..%2fhs-b/catalogue',
    'v1/nodes/HS-B/catalogue',
    'v1/nodes/hs-b./catalogue',
    'v1/nodes/hs-b%E2%80%8B/catalogue',
    'v1/nodes/h%C5%9B-b/catalogue',
    'v1/nodes/hs-a/../hs-b/catalogue',
    'v1/nodes/hs-a%00/catalogue',
    'v1/nodes/HS-A/catalogue',
    'v1/nodes/hs-a./catalogue',
  ])('path trick %s leaks nothing', async (p) => {
    const tls = await tlsOf(a);
    const r = await request(server.url, p, tls, { method: 'POST', json: { facts: { hostname: 'hs-a' } } });
    expect([400, 403, 404]).toContain(r.status);
    expect(r.body.toString()).not.toMatch(/hello|hs-very-secret|resources/);
  });

  it('a report claiming another node is refused', async () => {
    const r = await request(server.url, 'v1/nodes/hs-a/reports', await tlsOf(a), { json: { formatVersion: 1, node: 'hs-b' } });
    expect(r.status).toBe(403);
  });
});

describe('bad input', () => {
  it.each([
    ['malformed JSON', '{"facts": {', 400, /JSON/i],
    ['facts not an object', '{"facts": 42}', 400, /facts/],
    ['no hostname', '{"facts": {}}', 400, /hostname/],
  ])('%s gets 400 with the reason, never a stack', async (_n, body, status, reason) => {
    const tls = await tlsOf(a);
    const https = await import('node:https');
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        `${server.url}/v1/nodes/hs-a/catalogue`,
        { method: 'POST', ...tls, agent: false, headers: { 'content-type': 'application/json' } },
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
    expect(r.status).toBe(status);
    expect(JSON.parse(r.text).error).toMatch(reason);
    expect(r.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d/);
  });

  it('an oversized body gets 413', async () => {
    const r = await request(server.url, 'v1/nodes/hs-a/facts', await tlsOf(a), {
      method: 'PUT',
      json: { facts: { hostname: 'hs-a', pad: 'x'.repeat(300 * 1024) } },
    });
    expect(r.status).toBe(413);
  });
});

describe('certificates refused', () => {
  it('expired and wrong-CA certificates get 401', async () => {
    const ca = await loadCa(caDir);
    const { keyPem, csrPem } = await createKeyAndCsr('hs-a');
    const expired = await issueNodeCert(ca, 'hs-a', csrPem, { notBefore: new Date(Date.now() - 3 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const caPem = readFileSync(path.join(caDir, 'ca.crt'), 'utf8');
    const r1 = await request(server.url, 'v1/nodes/hs-a/status', { ca: caPem, cert: expired, key: keyPem });
    expect(r1.status).toBe(401);
    expect(r1.body.toString()).toMatch(/expired/i);
    const other = await initCa(path.join(work, 'other-ca'));
    const foreign = await issueNodeCert(other, 'hs-a', csrPem, {});
    const r2 = await request(server.url, 'v1/nodes/hs-a/status', { ca: caPem, cert: foreign, key: keyPem });
    expect(r2.status).toBe(401);
  });
});

describe('code updates', () => {
  it('a changed fleet value reaches every agent at its next run (SIGHUP)', async () => {
    writeFleet(fleet, 'hello v2');
    server.proc.kill('SIGHUP');
    await waitFor(() => /hello v2|serving fleet code/.test(server.log()) && server.log().split('serving fleet code').length >= 3);
    const ra = await agentRun(a);
    const rb = await agentRun(b);
    expect(motd(a)).toBe('hello v2\n');
    expect(motd(b)).toBe('hello v2\n');
    expect(ra.report.summary.changed).toBe(1);
    expect(rb.src.cached).toBe(false);
  });

  it('a broken fleet tree keeps the last good code served and reports the error', async () => {
    const before = (await request(server.url, 'v1/nodes', operatorTls(caDir))).body.toString();
    writeFileSync(path.join(fleet, 'data/common.yaml'), 'motd:\n  message: [unclosed\n');
    server.proc.kill('SIGHUP');
    await waitFor(async () => JSON.parse((await request(server.url, 'v1/nodes', operatorTls(caDir))).body.toString()).code.error !== undefined);
    const after = JSON.parse((await request(server.url, 'v1/nodes', operatorTls(caDir))).body.toString());
    expect(after.code.version).toBe(JSON.parse(before).code.version);
    expect(after.code.error.message).toMatch(/fleet\/data\/common\.yaml:\d+/);
    const r = await agentRun(a);
    expect(r.src.cached).toBe(false);
    expect(motd(a)).toBe('hello v2\n');
    writeFleet(fleet, 'hello v2');
  });
});

describe('replay', () => {
  it('a catalogue older than the one last applied is refused', async () => {
    const { createHash, sign, createPrivateKey } = await import('node:crypto');
    const dir = path.join(a.state, 'catalogue');
    const saved = { body: readFileSync(path.join(dir, 'catalogue.json')), meta: readFileSync(path.join(dir, 'catalogue.sig.json')) };
    // What the agent holds was issued later than anything the server now serves (now: not in the future, so it is kept;
    // signed by the server's key, so it verifies); a date beyond the clock skew would be refused (server-trust.test.ts).
    const doc = { ...JSON.parse(saved.body.toString()), issuedAt: new Date().toISOString(), version: 'sha256:' + 'f'.repeat(64) };
    const body = Buffer.from(JSON.stringify(doc));
    const meta = JSON.parse(saved.meta.toString());
    writeFileSync(path.join(dir, 'catalogue.json'), body);
    writeFileSync(
      path.join(dir, 'catalogue.sig.json'),
      JSON.stringify({
        ...meta,
        etag: 'sha256:' + createHash('sha256').update(body).digest('hex'),
        signature: sign('sha256', body, createPrivateKey(readFileSync(path.join(caDir, 'server.key')))).toString('base64'),
      }),
    );
    try {
      const r = await a.source.load(factsOf('hs-a'), new AbortController().signal);
      expect(r.cached).toBe(true);
      expect(r.error?.code).toBe('CATALOGUE_REFUSED');
      expect(r.error?.message).toMatch(/older than the one last applied/);
    } finally {
      writeFileSync(path.join(dir, 'catalogue.json'), saved.body);
      writeFileSync(path.join(dir, 'catalogue.sig.json'), saved.meta);
    }
  });
});

describe('reports and status', () => {
  it('GET /v1/nodes lists both nodes with their status; the CLI too', async () => {
    const out = await runCli(['nodes', '--server', server.url, '--ca-dir', caDir, '--format', 'json']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.json, out.stdout).toBeDefined();
    const nodes = out.json.nodes as { node: string; status: string; codeVersion: string }[];
    expect(nodes.map((n) => n.node)).toEqual(expect.arrayContaining(['hs-a', 'hs-b']));
    expect(nodes.find((n) => n.node === 'hs-b')!.status).toBe('intentional change');
    expect(nodes.find((n) => n.node === 'hs-a')!.status).toBe('unchanged');
    const human = await runCli(['nodes', '--server', server.url, '--ca-dir', caDir]);
    expect(human.stdout).toMatch(/^NODE +STATUS +LAST REPORT +CODE +NOTES\n/);
    expect(human.stdout).toMatch(/^hs-a +unchanged +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +sha256:/m);
    const own = await request(server.url, 'v1/nodes/hs-a/reports?limit=2', await tlsOf(a));
    expect(JSON.parse(own.body.toString()).reports).toHaveLength(2);
  });

  it('/metrics counts requests by route and code, compiles, 304s and reports', async () => {
    const r = await request(server.url, 'metrics', operatorTls(caDir));
    const text = r.body.toString();
    expect(text).toMatch(/tsconverge_http_requests_total\{route="\/v1\/nodes\/:node\/catalogue",method="POST",code="304"\} [1-9]/);
    expect(text).toMatch(/tsconverge_catalogues_compiled_total [1-9]/);
    expect(text).toMatch(/tsconverge_reports_stored_total [1-9]/);
    expect(text).toMatch(/tsconverge_catalogue_not_modified_ratio 0\.\d+/);
    expect(text).toMatch(/tsconverge_catalogue_compile_duration_seconds_count [1-9]/);
  });
});

describe('when the server is gone', () => {
  it('a flipped byte in the cached catalogue is refused before any change', async () => {
    const c = path.join(b.state, 'catalogue/catalogue.json');
    const good = readFileSync(c);
    const bad = Buffer.from(good);
    bad[bad.indexOf('hello v2')] ^= 1;
    writeFileSync(c, bad);
    const dead = new ServerSource({
      servers: ['https://127.0.0.1:18199'],
      node: 'hs-b',
      stateDir: b.state,
      caFingerprint: fingerprint,
      connectTimeoutMs: 1000,
    });
    const before = motd(b);
    await expect(dead.load(factsOf('hs-b'), new AbortController().signal)).rejects.toThrow(/cached catalogue is refused/);
    expect(motd(b)).toBe(before);
    writeFileSync(c, good);
  });

  it('black-holed server: the cached catalogue runs within the connect timeout, and says so', async () => {
    const hole = net.createServer(() => {
      /* accept, never answer */
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const holePort = (hole.address() as net.AddressInfo).port;
    try {
      const src = new ServerSource({
        servers: [`https://127.0.0.1:${holePort}`],
        node: 'hs-a',
        stateDir: a.state,
        caFingerprint: fingerprint,
        connectTimeoutMs: 1000,
        timeoutMs: 2000,
      });
      const t0 = Date.now();
      const out = await src.load(factsOf('hs-a'), new AbortController().signal);
      expect(Date.now() - t0).toBeLessThan(2500);
      expect(out.cached).toBe(true);
      expect(out.error?.code).toBe('SERVER_UNREACHABLE');
    } finally {
      hole.close();
    }
  });

  it('revoked certificates are refused from the next request', async () => {
    expect((await runCli(['ca', 'revoke', 'hs-b', '--ca-dir', caDir])).code).toBe(0);
    const r = await request(server.url, 'v1/nodes/hs-b/status', await tlsOf(b));
    expect(r.status).toBe(401);
    expect(r.body.toString()).toMatch(/revoked/);
  });

  it('server killed mid-run: agents run on their cached catalogue and report it; no cache -> refused, nothing changed', async () => {
    await server.stop('SIGKILL');
    const r = await a.source.load(factsOf('hs-a'), new AbortController().signal);
    expect(r.cached).toBe(true);
    expect(r.error?.code).toBe('SERVER_UNREACHABLE');
    const fresh = host('hs-a2', [server.url], { connectTimeoutMs: 1000 });
    await expect(fresh.source.load(factsOf('hs-a2'), new AbortController().signal)).rejects.toThrow(/ECONNREFUSED|no cached|unreachable/i);
    expect(existsSync(path.join(fresh.root, 'etc'))).toBe(false);
  });
});

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out; server log:\n${server.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
