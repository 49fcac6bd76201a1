import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { consumeJoinToken, createJoinToken, createKeyAndCsr, checkCsr, globMatch, initCa, NODE_NAME, submitCsr, loadCa, signNode } from './ca.js';
import { statusOfReport } from './store.js';

describe('node names', () => {
  it.each([
    ['web-01', true], ['web-01.example.org', true], ['a', true], ['db_1', true],
    ['WEB-01', false], ['web-01.', false], ['.web', false], ['web..01', false], ['web/01', false], ['../etc', false], ['wеb', false], ['', false], ['web-', false],
  ])('%s -> %s', (name, ok) => expect(NODE_NAME.test(name)).toBe(ok));
});

describe('autosign globs', () => {
  it.each([
    ['web-*', 'web-01', true], ['web-*', 'db-01', false], ['web-?', 'web-1', true], ['web-?', 'web-10', false], ['*.example.org', 'a.example.org', true], ['a.b', 'axb', false],
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
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});
