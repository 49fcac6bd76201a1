import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { escapeHtml, html } from './html.js';
import { bearerOf, createSession, loadDashboardToken, parseCookies, safeNext, sameSecret, SESSION_SECONDS, verifySession } from './auth.js';
import { countByStatus, oldestReportAgeSeconds } from './fleet.js';
import { matches, nodePage, overviewPage } from './pages.js';
import { dashboardAddress } from '../../cli/server.js';
import type { FleetNode } from './fleet.js';

const HOSTILE = `<script>alert("x")</script>' onmouseover='1' \`&`;

describe('html', () => {
  it.each([
    ['<b>', '&lt;b&gt;'],
    ['"q" & \'s\'', '&quot;q&quot; &amp; &#39;s&#39;'],
    ['`tick`', '&#96;tick&#96;'],
    [42, '42'],
  ])('escapes %j', (v, want) => { expect(escapeHtml(v)).toBe(want); });

  it('escapes interpolations but not nested html', () => {
    expect(html`<p title="${HOSTILE}">${HOSTILE}${html`<i>ok</i>`}${[1, '<2>']}${undefined}${false}</p>`.text)
      .toBe(`<p title="${escapeHtml(HOSTILE)}">${escapeHtml(HOSTILE)}<i>ok</i>1&lt;2&gt;</p>`);
  });
});

describe('dashboard auth', () => {
  it.each([
    ['Bearer abc.def', 'abc.def'],
    ['bearer  tok ', 'tok'],
    ['Basic abc', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('bearerOf(%j)', (h, want) => { expect(bearerOf(h)).toBe(want); });

  it('compares secrets of any length', () => {
    expect(sameSecret('a'.repeat(43), 'a'.repeat(43))).toBe(true);
    expect(sameSecret('a', 'a'.repeat(43))).toBe(false);
    expect(sameSecret('', 'x')).toBe(false);
  });

  it('sessions: made with the token, expire, refuse tampering', () => {
    const now = 1_800_000_000_000;
    const s = createSession('token-1234567890abcdef', now);
    expect(verifySession(s, 'token-1234567890abcdef', now + 1000)).toBe(true);
    expect(verifySession(s, 'other-token-1234567890', now)).toBe(false);
    expect(verifySession(s, 'token-1234567890abcdef', now + (SESSION_SECONDS + 1) * 1000)).toBe(false);
    const [issued, mac] = s.split('.');
    expect(verifySession(`${Number(issued) + 1}.${mac}`, 'token-1234567890abcdef', now)).toBe(false);
    expect(verifySession(undefined, 'token-1234567890abcdef', now)).toBe(false);
    expect(s).not.toContain('token-1234567890abcdef');
  });

  it.each([
    ['/nodes/web-01', '/nodes/web-01'],
    ['/?status=failed', '/?status=failed'],
    ['//evil.example/', '/'],
    ['/\\evil.example', '/'],
    ['https://evil.example/', '/'],
    [undefined, '/'],
  ])('safeNext(%j) = %j', (n, want) => { expect(safeNext(n)).toBe(want); });

  it('parses cookies, first one wins', () => {
    expect([...parseCookies('a=1; b = 2;a=3; junk').entries()]).toEqual([['a', '1'], ['b', '2']]);
  });

  it('makes a 0600 token file, reads it back, refuses one others can read', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hd-token-'));
    try {
      const file = path.join(dir, 'sub', 'dashboard.token');
      const made = await loadDashboardToken(file);
      expect(made.created).toBe(true);
      expect(made.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(await loadDashboardToken(file)).toEqual({ token: made.token, created: false });
      chmodSync(file, 0o644);
      await expect(loadDashboardToken(file)).rejects.toThrow(/mode 644.*owner only/);
      writeFileSync(file, 'short\n', { mode: 0o600 });
      chmodSync(file, 0o600);
      await expect(loadDashboardToken(file)).rejects.toThrow(/shorter than 16/);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });
});

describe('--dashboard', () => {
  it.each([
    ['8141', { host: '127.0.0.1', port: 8141 }],
    ['0.0.0.0:9000', { host: '0.0.0.0', port: 9000 }],
    ['[::1]:8141', { host: '::1', port: 8141 }],
    ['dash.example.org:443', { host: 'dash.example.org', port: 443 }],
  ])('%s', (v, want) => { expect(dashboardAddress(v)).toEqual(want); });
  it.each(['', 'x', '70000', '1.2.3.4:', ':80', '0'])('refuses %j', (v) => { expect(() => dashboardAddress(v)).toThrow(/\[HOST:\]PORT/); });
});

const node = (over: Partial<FleetNode>): FleetNode => ({ node: 'web-01', status: 'unchanged', cachedCatalogue: false, environment: 'production', role: 'web', ...over });

describe('overview', () => {
  const nodes = [node({}), node({ node: 'db-01', role: 'db', status: 'failed' }), node({ node: 'web-02', status: 'disabled', disabledReason: HOSTILE, cachedCatalogue: true })];
  it.each([
    [{}, ['web-01', 'db-01', 'web-02']],
    [{ q: 'WEB' }, ['web-01', 'web-02']],
    [{ status: 'failed' }, ['db-01']],
    [{ status: 'cached' }, ['web-02']],
    [{ role: 'db' }, ['db-01']],
    [{ environment: 'staging' }, []],
  ])('filter %j', (f, want) => { expect(nodes.filter((n) => matches(n, f)).map((n) => n.node)).toEqual(want); });

  it('counts every status, escapes what agents sent, hides filtered rows', () => {
    expect(countByStatus(nodes)).toMatchObject({ unchanged: 1, failed: 1, disabled: 1, unresponsive: 0 });
    const page = overviewPage(nodes, { status: 'failed' }, { version: 'sha256:abc' });
    expect(page).not.toContain('<script>alert');
    expect(page).toContain(escapeHtml(HOSTILE));
    expect(page).toMatch(/<tr data-node="web-01"[^>]* hidden>/);
    expect(page).toMatch(/<tr data-node="db-01"[^>]*data-cached="">/);
    expect(page).not.toMatch(/<script>(?!<\/script>)|<[^>]*\son\w+=/);
  });

  it('oldest report age', () => {
    expect(oldestReportAgeSeconds([node({ lastReportAt: '2026-01-01T00:00:00Z' }), node({ lastReportAt: '2026-01-01T00:01:00Z' }), node({})], Date.parse('2026-01-01T00:02:00Z'))).toBe(120);
    expect(oldestReportAgeSeconds([node({})])).toBe(0);
  });
});

describe('node page', () => {
  it('escapes resources, changes and errors from reports', () => {
    const page = nodePage({
      node: node({ node: 'web-01' }),
      facts: { facts: { hostname: 'web-01', note: HOSTILE }, at: '2026-01-01T00:00:00Z' },
      reports: [{ id: 1, node: 'web-01', receivedAt: '2026-01-01T00:00:00Z', status: 'failed', report: {
        startedAt: '2026-01-01T00:00:00Z', durationMs: 1200, exitCode: 4, summary: { changed: 1, failed: 1 },
        resources: [
          { id: `file[${HOSTILE}]`, status: 'changed', cause: 'corrective', changes: [{ path: '/content', from: HOSTILE, to: '**masked**' }] },
          { id: 'docker.container[web]', status: 'failed', error: { code: 'IMAGE_NOT_FOUND', message: HOSTILE, hint: HOSTILE } },
        ],
      } }],
    });
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('IMAGE_NOT_FOUND');
    expect(page).toContain('**masked**');
    expect(page).toMatch(/<svg id="runs-chart"[^>]*role="img"/);
    expect(page).not.toMatch(/<[^>]*\son\w+=/);
  });

  it('shows what the watcher saw before a corrective change, escaped, and ignores a malformed one', () => {
    const page = nodePage({
      node: node({ node: 'web-01' }),
      reports: [{ id: 1, node: 'web-01', receivedAt: '2026-01-01T00:00:00Z', status: 'corrective change', report: {
        startedAt: '2026-01-01T00:00:00Z', trigger: 'event', durationMs: 900, exitCode: 2, summary: { changed: 3 },
        resources: [
          { id: 'docker.container[web]', status: 'changed', action: 'create', cause: 'corrective',
            seen: { by: 'event', event: { source: 'docker', type: 'container', action: 'destroy', name: 'web', id: 'abc', time: '2026-01-01T14:02:11.000Z', attributes: {} }, afterMs: 1400 } },
          { id: `file[${HOSTILE}]`, status: 'changed', cause: 'corrective', seen: { by: 'sweep' } },
          { id: 'file[odd]', status: 'changed', cause: 'corrective', seen: { by: 'event', event: 'not an object' } },
        ],
      } }],
    } as never);
    expect(page).toContain('docker.container[web] destroyed at 14:02:11; restored 1.4 s later');
    expect(page).toContain('(started by an event)');
    expect(page).toContain(`${escapeHtml(`file[${HOSTILE}]`)} drifted, seen at sweep`);
    expect(page).not.toContain('<script>alert');
    expect((page.match(/class="seen"/g) ?? []).length).toBe(2);
  });
});
