import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { escapeHtml, html } from './html.js';
import { bearerOf, createSession, loadDashboardToken, parseCookies, safeNext, sameSecret, SESSION_SECONDS, verifySession } from './auth.js';
import { bySeverity, countByStatus, oldestReportAgeSeconds } from './fleet.js';
import { causeOf, changeEvents, changesPage, matches, matchesChange, nodePage, overviewPage, refreshSeconds } from './pages.js';
import { groupRuns, MAX_BARS, renderRunChart, timeLabel, type ChartRun } from './chart.js';
import { dashboardAddress } from '../../cli/commands/server.js';
import type { FleetNode } from './fleet.js';

const HOSTILE = `<script>alert("x")</script>' onmouseover='1' \`&`;

describe('html', () => {
  it.each([
    ['<b>', '&lt;b&gt;'],
    ['"q" & \'s\'', '&quot;q&quot; &amp; &#39;s&#39;'],
    ['`tick`', '&#96;tick&#96;'],
    [42, '42'],
  ])('escapes %j', (v, want) => {
    expect(escapeHtml(v)).toBe(want);
  });

  it('escapes interpolations but not nested html', () => {
    expect(html`<p title="${HOSTILE}">${HOSTILE}${html`<i>ok</i>`}${[1, '<2>']}${undefined}${false}</p>`.text).toBe(
      `<p title="${escapeHtml(HOSTILE)}">${escapeHtml(HOSTILE)}<i>ok</i>1&lt;2&gt;</p>`,
    );
  });
});

describe('dashboard auth', () => {
  it.each([
    ['Bearer abc.def', 'abc.def'],
    ['bearer  tok ', 'tok'],
    ['Basic abc', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('bearerOf(%j)', (h, want) => {
    expect(bearerOf(h)).toBe(want);
  });

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
  ])('safeNext(%j) = %j', (n, want) => {
    expect(safeNext(n)).toBe(want);
  });

  it('parses cookies, first one wins', () => {
    expect([...parseCookies('a=1; b = 2;a=3; junk').entries()]).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--dashboard', () => {
  it.each([
    ['8141', { host: '127.0.0.1', port: 8141 }],
    ['0.0.0.0:9000', { host: '0.0.0.0', port: 9000 }],
    ['[::1]:8141', { host: '::1', port: 8141 }],
    ['dash.example.org:443', { host: 'dash.example.org', port: 443 }],
  ])('%s', (v, want) => {
    expect(dashboardAddress(v)).toEqual(want);
  });
  it.each(['', 'x', '70000', '1.2.3.4:', ':80', '0'])('refuses %j', (v) => {
    expect(() => dashboardAddress(v)).toThrow(/\[HOST:\]PORT/);
  });
});

const node = (over: Partial<FleetNode>): FleetNode => ({
  node: 'web-01',
  status: 'unchanged',
  cachedCatalogue: false,
  environment: 'production',
  role: 'web',
  ...over,
});

describe('overview', () => {
  const nodes = [
    node({}),
    node({ node: 'db-01', role: 'db', status: 'failed' }),
    node({ node: 'web-02', status: 'disabled', disabledReason: HOSTILE, cachedCatalogue: true }),
  ];
  it.each([
    [{}, ['web-01', 'db-01', 'web-02']],
    [{ q: 'WEB' }, ['web-01', 'web-02']],
    [{ status: 'failed' }, ['db-01']],
    [{ status: 'cached' }, ['web-02']],
    [{ role: 'db' }, ['db-01']],
    [{ environment: 'staging' }, []],
  ])('filter %j', (f, want) => {
    expect(nodes.filter((n) => matches(n, f)).map((n) => n.node)).toEqual(want);
  });

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
    expect(
      oldestReportAgeSeconds(
        [node({ lastReportAt: '2026-01-01T00:00:00Z' }), node({ lastReportAt: '2026-01-01T00:01:00Z' }), node({})],
        Date.parse('2026-01-01T00:02:00Z'),
      ),
    ).toBe(120);
    expect(oldestReportAgeSeconds([node({})])).toBe(0);
  });
});

describe('node page', () => {
  it('escapes resources, changes and errors from reports', () => {
    const page = nodePage({
      node: node({ node: 'web-01' }),
      facts: { facts: { hostname: 'web-01', note: HOSTILE }, at: '2026-01-01T00:00:00Z' },
      reports: [
        {
          id: 1,
          node: 'web-01',
          receivedAt: '2026-01-01T00:00:00Z',
          status: 'failed',
          report: {
            startedAt: '2026-01-01T00:00:00Z',
            durationMs: 1200,
            exitCode: 4,
            summary: { changed: 1, failed: 1 },
            resources: [
              { id: `file[${HOSTILE}]`, status: 'changed', cause: 'corrective', changes: [{ path: '/content', from: HOSTILE, to: '**masked**' }] },
              { id: 'docker.container[web]', status: 'failed', error: { code: 'IMAGE_NOT_FOUND', message: HOSTILE, hint: HOSTILE } },
            ],
          },
        },
      ],
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
      reports: [
        {
          id: 1,
          node: 'web-01',
          receivedAt: '2026-01-01T00:00:00Z',
          status: 'corrective change',
          report: {
            startedAt: '2026-01-01T00:00:00Z',
            trigger: 'event',
            durationMs: 900,
            exitCode: 2,
            summary: { changed: 3 },
            resources: [
              {
                id: 'docker.container[web]',
                status: 'changed',
                action: 'create',
                cause: 'corrective',
                seen: {
                  by: 'event',
                  event: { source: 'docker', type: 'container', action: 'destroy', name: 'web', id: 'abc', time: '2026-01-01T14:02:11.000Z', attributes: {} },
                  afterMs: 1400,
                },
              },
              { id: `file[${HOSTILE}]`, status: 'changed', cause: 'corrective', seen: { by: 'sweep' } },
              { id: 'file[odd]', status: 'changed', cause: 'corrective', seen: { by: 'event', event: 'not an object' } },
            ],
          },
        },
      ],
    } as never);
    expect(page).toContain('docker.container[web] destroyed at 14:02:11; restored 1.4 s later');
    expect(page).toContain('(started by an event)');
    expect(page).toContain(`${escapeHtml(`file[${HOSTILE}]`)} drifted, seen at sweep`);
    expect(page).not.toContain('<script>alert');
    expect((page.match(/class="seen"/g) ?? []).length).toBe(2);
  });
});

describe('triage', () => {
  it('orders hosts worst first: failed, unresponsive, corrective, noop pending, disabled, then the healthy; newest failure first within a status', () => {
    const nodes = [
      node({ node: 'a-ok', status: 'unchanged' }),
      node({ node: 'b-rollout', status: 'intentional change' }),
      node({ node: 'c-off', status: 'disabled' }),
      node({ node: 'd-noop', status: 'noop pending' }),
      node({ node: 'e-drift', status: 'corrective change' }),
      node({ node: 'f-silent', status: 'unresponsive' }),
      node({ node: 'g-failed-old', status: 'failed', lastFailureAt: '2026-01-01T00:00:00Z' }),
      node({ node: 'h-failed-new', status: 'failed', lastFailureAt: '2026-01-02T00:00:00Z' }),
    ];
    expect([...nodes].sort(bySeverity).map((n) => n.node)).toEqual([
      'h-failed-new',
      'g-failed-old',
      'f-silent',
      'e-drift',
      'd-noop',
      'c-off',
      'b-rollout',
      'a-ok',
    ]);
  });

  it('the overview shows failed and changed counts and the last failure and change, and no digests', () => {
    const page = overviewPage(
      [
        node({
          status: 'failed',
          failed: 3,
          changed: 1,
          lastFailureAt: '2026-01-01T10:00:00Z',
          lastChangeAt: '2026-01-01T09:00:00Z',
          catalogueDigest: 'sha256:deadbeefcafe0000',
          codeVersion: 'sha256:c0dec0dec0de',
        }),
      ],
      {},
      { version: 'sha256:abc' },
      Date.parse('2026-01-01T10:01:00Z'),
    );
    expect(page).toMatch(/data-col="failed"><span class="bad-n">3<\/span>/);
    expect(page).toMatch(/data-col="changed"><span class="chg-n">1<\/span>/);
    expect(page).toMatch(/data-col="last-failure"><time datetime="2026-01-01T10:00:00Z">2026-01-01 10:00:00<\/time> <span class="age">60 s ago/);
    expect(page).not.toContain('deadbeefcafe');
    expect(page).not.toContain('c0dec0dec0de');
    expect(page).toContain('data-refresh="30"');
  });

  it.each([
    [undefined, 30],
    ['', 30],
    ['5', 5],
    ['1', 2],
    ['0', 0],
    ['-3', 0],
    ['99999', 3600],
    ['x', 30],
  ] as const)('refresh %j -> %j s', (v, want) => {
    expect(refreshSeconds(v)).toBe(want);
  });
});

describe("causes and the fleet's recent changes", () => {
  const reports = [
    {
      node: 'web-2',
      receivedAt: '2026-01-01T00:02:00Z',
      report: {
        startedAt: '2026-01-01T00:02:00Z',
        resources: [
          { id: 'docker.container[web]', status: 'failed', action: 'create', cause: 'intentional', error: { code: 'IMAGE_NOT_FOUND' } },
          { id: 'file[motd]', status: 'unchanged' },
        ],
      },
    },
    {
      node: 'web-1',
      receivedAt: '2026-01-01T00:01:00Z',
      report: {
        startedAt: '2026-01-01T00:01:00Z',
        resources: [
          { id: 'file[motd]', status: 'changed', action: 'update', cause: 'corrective', changes: [{ attribute: 'content', path: '/content' }] },
          {
            id: 'docker.container[app]',
            status: 'changed',
            action: 'replace',
            cause: 'intentional',
            changes: [{ attribute: 'image' }, { attribute: 'environment' }],
          },
        ],
      },
    },
    {
      node: 'db-1',
      receivedAt: '2026-01-01T00:00:00Z',
      report: { noop: true, resources: [{ id: 'sysctl[net.ipv4.ip_forward]', status: 'pending', action: 'update', cause: 'corrective' }] },
    },
  ];
  const events = changeEvents(reports);

  it('a failed or skipped resource has no cause; a change or a pending one has its own', () => {
    expect(causeOf({ status: 'failed', cause: 'intentional' })).toBe('');
    expect(causeOf({ status: 'skipped', cause: 'corrective' })).toBe('');
    expect(causeOf({ status: 'changed', cause: 'corrective' })).toBe('corrective');
    expect(causeOf({ status: 'pending', cause: 'intentional' })).toBe('intentional');
    expect(events.map((e) => [e.node, e.id, e.status, e.cause])).toEqual([
      ['web-2', 'docker.container[web]', 'failed', ''],
      ['web-1', 'file[motd]', 'changed', 'corrective'],
      ['web-1', 'docker.container[app]', 'changed', 'intentional'],
      ['db-1', 'sysctl[net.ipv4.ip_forward]', 'pending', 'corrective'],
    ]);
    expect(events[2]!.attributes).toEqual(['image', 'environment']);
  });

  it.each([
    [{ resource: 'motd' }, ['web-1 file[motd]']],
    [{ resource: 'DOCKER.container' }, ['web-2 docker.container[web]', 'web-1 docker.container[app]']],
    [{ cause: 'corrective' }, ['web-1 file[motd]', 'db-1 sysctl[net.ipv4.ip_forward]']],
    [{ cause: 'intentional' }, ['web-1 docker.container[app]']],
    [{ cause: 'failed' }, ['web-2 docker.container[web]']],
    [{ cause: 'pending' }, ['db-1 sysctl[net.ipv4.ip_forward]']],
    [{ resource: 'container', cause: 'intentional', node: 'web-1' }, ['web-1 docker.container[app]']],
  ])('filter %j', (f, want) => {
    expect(events.filter((e) => matchesChange(e, f)).map((e) => `${e.node} ${e.id}`)).toEqual(want);
  });

  it('the page escapes what agents sent and says a failed resource made no change', () => {
    const page = changesPage(
      changeEvents([
        { node: 'x', receivedAt: '2026-01-01T00:00:00Z', report: { resources: [{ id: `file[${HOSTILE}]`, status: 'changed', cause: 'corrective' }] } },
        ...reports,
      ]),
      { cause: 'failed' },
      4,
    );
    expect(page).not.toContain('<script>alert');
    expect(page).toMatch(/<tr data-node="web-2" data-resource="docker.container\[web\]" data-status="failed" data-cause="">/);
    expect(page).toContain('a failed or skipped resource made no change and has no cause');
    expect(page).not.toMatch(/<[^>]*\son\w+=/);
  });
});

describe('the runs chart', () => {
  const run = (i: number, over: Partial<ChartRun> = {}): ChartRun => ({
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i * 30_000).toISOString(),
    durationMs: 1000 + (i % 7) * 100,
    changed: i % 3,
    failed: i % 50 === 0 ? 1 : 0,
    ...over,
  });
  const bars = (svg: string): { x: number; width: number }[] =>
    [...svg.matchAll(/<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/g)].map((m) => ({ x: Number(m[1]), width: Number(m[2]) }));

  it('one run: one bar of normal width, one time label with seconds, no "1 runs"', () => {
    const svg = renderRunChart([run(0)]).text;
    expect(bars(svg)).toHaveLength(1);
    expect(bars(svg)[0]!.width).toBeGreaterThanOrEqual(20);
    expect(bars(svg)[0]!.width).toBeLessThanOrEqual(28);
    expect([...svg.matchAll(/<text class="tick"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['00:00:00']);
    expect(svg).toContain('one run');
    expect(svg).not.toMatch(/\b1 runs\b/);
  });

  it('runs within one minute: the axis labels differ (seconds)', () => {
    const svg = renderRunChart([run(0, { at: '2026-01-01T10:00:01.000Z' }), run(1, { at: '2026-01-01T10:00:31.000Z' })]).text;
    expect([...svg.matchAll(/<text class="tick"[^>]*>([^<]*)</g)].map((m) => m[1])).toEqual(['10:00:01', '10:00:31']);
  });

  it('a thousand runs: grouped into at most MAX_BARS bars that stay visible and inside the plot', () => {
    const runs = Array.from({ length: 1000 }, (_, i) => run(i));
    const svg = renderRunChart(runs).text;
    const b = bars(svg);
    expect(b.length).toBeLessThanOrEqual(MAX_BARS);
    expect(b.length).toBeGreaterThan(MAX_BARS / 2);
    for (const x of b) {
      expect(x.width).toBeGreaterThanOrEqual(1.5);
      expect(x.x).toBeGreaterThanOrEqual(56);
      expect(x.x + x.width).toBeLessThanOrEqual(720 - 48);
    }
    expect(svg).toContain('9 runs per bar');
    expect(svg).toContain('last 1000 runs');
    const ticks = [...svg.matchAll(/<text class="tick"[^>]*>([^<]*)</g)].map((m) => m[1]);
    expect(new Set(ticks).size).toBe(3);
    const g = groupRuns(runs);
    expect(g.runs.reduce((n, r) => n + r.changed, 0)).toBe(runs.reduce((n, r) => n + r.changed, 0));
    expect(g.runs.reduce((n, r) => n + r.failed, 0)).toBe(20);
  });

  it.each([
    ['2026-01-01T10:00:01.000Z', 60_000, '10:00:01'],
    ['2026-01-01T10:00:01.000Z', 5 * 3_600_000, '01-01 10:00'],
    ['2026-01-01T10:00:01.000Z', 9 * 86_400_000, '2026-01-01'],
  ])('time label of %s over %d ms: %s', (iso, span, want) => {
    expect(timeLabel(iso, span)).toBe(want);
  });
});
