import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs it loaded first
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, sign, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import {
  canSignCatalogues,
  caPaths,
  createKeyAndCsr,
  checkCsr,
  globMatch,
  initCa,
  issueNodeCert,
  NODE_NAME,
  NODE_NAME_MAX,
  reissueServerCert,
  submitCsr,
  loadCa,
  signNode,
} from './ca.js';
import { consumeJoinToken, createJoinToken, withJoinToken } from './join-tokens.js';
import { writeLegacyServerCert } from './ca.testkit.js';
import { statusOfReport } from './store.js';
import { MAX_CLOCK_SKEW_MS, parseDocument, verifySignedBody } from './wire.js';

describe('node names', () => {
  it.each([
    ['web-01', true],
    ['web-01.example.org', true],
    ['a', true],
    ['db_1', true],
    ['WEB-01', false],
    ['web-01.', false],
    ['.web', false],
    ['web..01', false],
    ['web/01', false],
    ['../etc', false],
    ['wеb', false],
    ['', false],
    ['web-', false],
    ['a'.repeat(NODE_NAME_MAX), true],
    ['a'.repeat(NODE_NAME_MAX + 1), false],
    [`${'a'.repeat(120)}.${'b'.repeat(129)}`, true],
  ])('%s -> %s', (name, ok) => expect(NODE_NAME.test(name)).toBe(ok));

  it('the longest name still fits a file name with its longest suffix (data/nodes/NODE.yaml)', () => {
    expect(Buffer.byteLength(`${'a'.repeat(NODE_NAME_MAX)}.yaml`)).toBeLessThanOrEqual(255);
  });
});

describe('autosign globs', () => {
  it.each([
    ['web-*', 'web-01', true],
    ['web-*', 'db-01', false],
    ['web-?', 'web-1', true],
    ['web-?', 'web-10', false],
    ['*.example.org', 'a.example.org', true],
    ['a.b', 'axb', false],
  ])('%s matches %s: %s', (g, n, ok) => expect(globMatch(g, n)).toBe(ok));
});

describe('report status', () => {
  it.each([
    [{ agent: { enabled: false, disabledReason: 'x' } }, 'disabled'],
    [{ summary: { failed: 1 } }, 'failed'],
    [{ catalogueError: { code: 'SERVER_UNREACHABLE' } }, 'failed'],
    [{ catalogueError: { code: 'SERVER_UNREACHABLE' }, cachedCatalogue: true }, 'unchanged'],
    [{ noop: true, summary: { pending: 1 } }, 'noop pending'],
    [{ summary: { changed: 1 }, resources: [{ status: 'changed', cause: 'corrective' }] }, 'corrective change'],
    [{ summary: { changed: 1 } }, 'intentional change'],
    [{}, 'unchanged'],
  ])('%j -> %s', (r, s) => expect(statusOfReport(r).status).toBe(s));
});

describe('the CA', () => {
  it('keys are 0600; requests are checked; tokens work once; a second key for a signed node is refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hs-ca-'));
    try {
      await initCa(dir);
      for (const f of ['ca.key', 'server.key', 'operator.key']) expect(statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
      const ca = await loadCa(dir);
      const { csrPem } = await createKeyAndCsr('hs-x');
      await expect(checkCsr('hs-y', csrPem)).rejects.toThrow(/CN=hs-x, not hs-y/);
      await expect(checkCsr('hs-x', 'garbage')).rejects.toThrow(/not a PEM/);
      expect((await submitCsr(ca, 'hs-x', csrPem, false)).state).toBe('pending');
      const other = await createKeyAndCsr('hs-x');
      await expect(submitCsr(ca, 'hs-x', other.csrPem, false)).rejects.toThrow(/different request/);
      await signNode(ca, 'hs-x');
      expect((await submitCsr(ca, 'hs-x', csrPem, false)).state).toBe('signed');
      await expect(submitCsr(ca, 'hs-x', other.csrPem, true)).rejects.toThrow(/already has a certificate/);
      const token = await createJoinToken(dir);
      expect(await consumeJoinToken(dir, token)).toBe(true);
      expect(await consumeJoinToken(dir, token)).toBe(false);
      expect(await consumeJoinToken(dir, 'made-up')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('join tokens', () => {
  it('a request that is refused leaves its token valid; one that succeeds uses it up', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hs-tok-'));
    try {
      const token = await createJoinToken(dir);
      await expect(
        withJoinToken(dir, token, async () => {
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      expect(await withJoinToken(dir, token, async (valid) => ({ value: valid, spent: false }))).toBe(true);
      expect(await consumeJoinToken(dir, token)).toBe(true);
      expect(await withJoinToken(dir, token, async (valid) => ({ value: valid, spent: valid }))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('catalogue signing', () => {
  const dirs: string[] = [];
  const newCa = async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'hs-sig-'));
    dirs.push(d);
    await initCa(d);
    return loadCa(d);
  };
  const doc = (issuedAt: string) => Buffer.from(JSON.stringify({ formatVersion: 1, node: 'hs-x', issuedAt, resources: [] }));
  const signed = (body: Buffer, keyPem: string, certPem: string) => ({
    sig: sign('sha256', body, createPrivateKey(keyPem)).toString('base64'),
    signer: Buffer.from(x509.PemConverter.decodeFirst(certPem)).toString('base64'),
  });

  it('only the server certificate carries the purpose: a node key and an operator key cannot sign a catalogue', async () => {
    const ca = await newCa();
    const p = caPaths(ca.dir);
    const body = doc(new Date().toISOString());
    const server = signed(body, readFileSync(p.serverKey, 'utf8'), readFileSync(p.serverCert, 'utf8'));
    expect(canSignCatalogues(readFileSync(p.serverCert, 'utf8'))).toBe(true);
    expect(() => verifySignedBody(body, server.sig, server.signer, ca.certPem)).not.toThrow();

    const { keyPem, csrPem } = await createKeyAndCsr('hs-b');
    const nodeCert = await issueNodeCert(ca, 'hs-b', csrPem, {});
    expect(canSignCatalogues(nodeCert)).toBe(false);
    const byNode = signed(body, keyPem, nodeCert);
    expect(() => verifySignedBody(body, byNode.sig, byNode.signer, ca.certPem)).toThrow(/CN=hs-b, a certificate that may not sign catalogues/);
    const byOperator = signed(body, readFileSync(p.operatorKey, 'utf8'), readFileSync(p.operatorCert, 'utf8'));
    expect(canSignCatalogues(readFileSync(p.operatorCert, 'utf8'))).toBe(false);
    expect(() => verifySignedBody(body, byOperator.sig, byOperator.signer, ca.certPem)).toThrow(/may not sign catalogues/);
  });

  it.each([
    ['now', 0, true],
    ['just within the clock skew', MAX_CLOCK_SKEW_MS - 5000, true],
    ['beyond the clock skew', MAX_CLOCK_SKEW_MS + 5000, false],
    ['a year ahead', 365 * 86_400_000, false],
  ])('a catalogue issued %s: accepted %s', (_n, ahead, ok) => {
    const now = Date.parse('2026-12-04T10:00:00Z');
    const parse = () => parseDocument(doc(new Date(now + ahead).toISOString()), 'hs-x', now);
    if (ok) expect(parse().node).toBe('hs-x');
    else expect(parse).toThrow(/issued in the future/);
  });

  it('a server certificate from before the purpose is issued again for the same key and names', async () => {
    const ca = await newCa();
    const p = caPaths(ca.dir);
    const before = new x509.X509Certificate(readFileSync(p.serverCert, 'utf8'));
    const legacy = new x509.X509Certificate(await writeLegacyServerCert(ca.dir));
    expect(canSignCatalogues(legacy.toString('pem'))).toBe(false);
    const pem = await reissueServerCert(ca, { hostnames: ['catalogue.example.org'] });
    const after = new x509.X509Certificate(pem);
    expect(canSignCatalogues(pem)).toBe(true);
    expect(after.subject).toBe(before.subject);
    expect(createHash('sha256').update(new Uint8Array(after.publicKey.rawData)).digest('hex')).toBe(
      createHash('sha256').update(new Uint8Array(before.publicKey.rawData)).digest('hex'),
    );
    expect(after.notAfter.getTime()).toBe(before.notAfter.getTime());
    const names = after.getExtension(x509.SubjectAlternativeNameExtension)!.names.items.map((n) => n.value);
    expect(names).toEqual(expect.arrayContaining(['localhost', '127.0.0.1', 'catalogue.example.org']));
    expect(readFileSync(`${p.serverCert}.old`, 'utf8')).toBe(legacy.toString('pem'));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
});
