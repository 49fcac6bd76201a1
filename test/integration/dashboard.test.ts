/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core), against
 * a real server process whose agents really ran: real agent processes converging real
 * files in their own temp roots and real containers on the Docker engine.
 *
 *   hd-web-1  drifted (its container removed by hand) and repaired: corrective change;
 *             its config file holds a secret that must never reach a page
 *   hd-web-2  its image does not exist in the loopback registry: failed (agent daemon)
 *   hd-db-1   paused with `agent disable --reason`: disabled (agent daemon)
 *   hd-db-2   unchanged (agent daemon); hd-db-4 a --noop agent: noop pending (agent daemon)
 *   hd-db-5   unchanged on its cached catalogue: its data then names a missing secret (daemon)
 *   hd-db-3   an agent that reported once and was stopped: unresponsive once its report
 *             is older than two --agent-interval (15 s here)
 * The daemons report every 4 s, so their statuses hold while the browser looks.
 * Screenshots (docs/dashboard.md) only when TSCONVERGE_SCREENSHOTS names a directory
 * (`TSCONVERGE_SCREENSHOTS=docs/img`): the overview at 800, 1280 and 1920 px, a failed
 * host's page and the recent changes. A normal run writes nothing in the tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createSandbox, docker, REGISTRY, REPO, requireDocker, runCli, type Sandbox, freePort } from '../support/harness.js';
import { nextReport, reports, startAgent, waitFor, type AgentProcess } from '../support/agent.js';
import { operatorTls, startServer, type ServerProc } from '../support/server.js';
import { request } from '../../src/server/client.js';
import { stateLayout } from '../../src/core/state-layout.js';

const PORT = await freePort();
const DASH = await freePort();
const DASH_TLS = await freePort();
const SEA_PORT = await freePort();
const SEA_DASH = await freePort();
const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'hd-secret-7f3a9c-never-shown';
const REASON = 'change window CHG-4711: database upgrade';
const HOSTILE = '<script>window.hdPwned=1</script><img src=x onerror="window.hdPwned=2">';
const dash = `http://127.0.0.1:${DASH}`;
const SHOTS = process.env.TSCONVERGE_SCREENSHOTS ? path.resolve(REPO, process.env.TSCONVERGE_SCREENSHOTS) : undefined;
async function screenshot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}
const WIDTHS = [800, 1280, 1920] as const;
/** docs/img as it was before the test: a run without TSCONVERGE_SCREENSHOTS must leave it so. */
const imgDir = path.join(REPO, 'docs/img');
const imgState = (): string[] =>
  existsSync(imgDir)
    ? readdirSync(imgDir)
        .sort()
        .map((f) => `${f} ${statSync(path.join(imgDir, f)).mtimeMs}`)
    : [];
const imgBefore = imgState();

let sb: Sandbox;
let server: ServerProc;
let fingerprint: string;
let token: string;
let browser: Browser;
let ctx: BrowserContext;
const daemons: AgentProcess[] = [];
const stateDir = (): string => path.join(sb.root, 'server');
const caDir = (): string => path.join(stateDir(), 'ca');
const container = (node: string): string => `${sb.prefix}-${node}`;

interface Host {
  readonly node: string;
  readonly root: string;
  readonly state: string;
}
const host = (node: string): Host => ({ node, root: path.join(sb.root, node), state: path.join(sb.root, `${node}-state`) });

function agentArgs(h: Host, ...extra: string[]): string[] {
  return [
    '--server',
    `https://127.0.0.1:${PORT}`,
    '--ca-fingerprint',
    fingerprint,
    '--node',
    h.node,
    '--root',
    h.root,
    '--state-dir',
    h.state,
    '--connect-timeout',
    '3',
    ...extra,
  ];
}
async function onetime(h: Host): Promise<any> {
  const r = await runCli(['agent', ...agentArgs(h, '--onetime')]);
  const last = reports(h.state).pop();
  expect(last, r.stderr).toBeDefined();
  return last;
}
function daemon(h: Host, ...extra: string[]): AgentProcess {
  const a = startAgent(agentArgs(h, '--interval', '4s', ...extra));
  daemons.push(a);
  return a;
}

async function fleetStatus(): Promise<Record<string, { status: string; disabledReason?: string; cachedCatalogue?: boolean }>> {
  const a = await request(`https://127.0.0.1:${PORT}`, 'v1/nodes', operatorTls(caDir()));
  expect(a.status).toBe(200);
  return Object.fromEntries((JSON.parse(a.body.toString()).nodes as { node: string; status: string }[]).map((n) => [n.node, n]));
}
async function waitForStatus(want: Record<string, string>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, { status: string }> = {};
  for (;;) {
    last = await fleetStatus();
    if (Object.entries(want).every(([n, s]) => last[n]?.status === s)) return;
    if (Date.now() > deadline)
      throw new Error(
        `statuses ${JSON.stringify(Object.fromEntries(Object.entries(last).map(([n, v]) => [n, v.status])))}, wanted ${JSON.stringify(want)}\n${daemons.map((d) => d.stderr().slice(-600)).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * hd-web-1 reports only when told, so its corrective change turns unresponsive once its
 * report is older than two --agent-interval (30 s): on a busy machine that happens while the
 * tests look. A test that reads the fleet's statuses first puts the fleet in its known state
 * (the state, not the time, decides): hd-web-1 drifted and repaired within the last 10 s,
 * every daemon's status as set up.
 */
async function settled(): Promise<void> {
  const now = (await fleetStatus()) as Record<string, { status: string; lastReportAt?: string }>;
  const w = now['hd-web-1'];
  if (w?.status !== 'corrective change' || !w.lastReportAt || Date.now() - Date.parse(w.lastReportAt) > 10_000) {
    docker('rm', '-f', container('web-1'));
    const repair = await onetime(web1());
    expect(repair.resources.find((r: any) => r.kind === 'docker.container').cause).toBe('corrective');
  }
  await waitForStatus(STEADY, 20_000);
}

function writeFleet(dir: string): void {
  const w = (f: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    writeFileSync(path.join(dir, f), text);
  };
  w(
    'environments/production/manifests/site.yaml',
    'roles:\n  web:\n    modules: [hdweb]\n  db:\n    modules: [hddb]\nnodes:\n  - glob: "hd-web-*"\n    role: web\n  - glob: "hd-db-*"\n    role: db\n',
  );
  w(
    'modules/hdweb/module.yaml',
    [
      'description: A web container and its configuration file.',
      'parameters:',
      '  container: { type: string, description: Container name }',
      '  image: { type: string, default: local/busybox:1, description: Image }',
      '  label: { type: string, description: Value of the tsconverge-test label }',
      '  token: { type: string, default: none, description: A secret token in the configuration }',
      'resources:',
      '  - kind: file',
      '    name: app-conf',
      '    path: /etc/app.conf',
      '    content: "token={{params.token}}\\n"',
      '  - kind: docker.container',
      '    name: "{{params.container}}"',
      '    image: "{{params.image}}"',
      '    command: [httpd, -f, -p, "8080"]',
      '    labels: { tsconverge-test: "{{params.label}}" }',
      '',
    ].join('\n'),
  );
  w(
    'modules/hddb/module.yaml',
    'description: A settings file.\nparameters:\n  text: { type: string, default: "db settings", description: The text }\nresources:\n  - kind: file\n    name: settings\n    path: /etc/db.conf\n    content: "{{params.text}}\\n"\n',
  );
  const label = sb.label.split('=')[1]!;
  w('environments/production/data/nodes/hd-web-1.yaml', `hdweb:\n  container: ${container('web-1')}\n  label: ${label}\n  token: !secret hd_token\n`);
  w(
    'environments/production/data/nodes/hd-web-2.yaml',
    `hdweb:\n  container: ${container('web-2')}\n  label: ${label}\n  image: ${REGISTRY}/${sb.prefix}-missing:1\n`,
  );
}

const web1 = (): Host => host('hd-web-1');
const STEADY = {
  'hd-web-1': 'corrective change',
  'hd-web-2': 'failed',
  'hd-db-1': 'disabled',
  'hd-db-2': 'unchanged',
  'hd-db-3': 'unresponsive',
  'hd-db-4': 'noop pending',
  'hd-db-5': 'unchanged',
};
const web2 = (): Host => host('hd-web-2');

beforeAll(async () => {
  requireDocker();
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium`);
  sb = createSandbox('hd-dash');
  const fleet = path.join(sb.root, 'fleet');
  writeFleet(fleet);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec((await runCli(['ca', 'init', '--state-dir', stateDir()])).stdout)![1]!;
  writeFileSync(path.join(sb.root, 'autosign'), 'hd-*\n');
  server = await startServer(
    ['--fleet', fleet, '--state-dir', stateDir(), '--autosign', path.join(sb.root, 'autosign'), '--agent-interval', '15', '--dashboard', `127.0.0.1:${DASH}`],
    PORT,
    { TSCONVERGE_SECRET_HD_TOKEN: SECRET },
  );
  await waitFor('the dashboard', () => /dashboard on/.test(server.log()), 30_000);
  token = readFileSync(path.join(stateDir(), 'dashboard.token'), 'utf8').trim();

  // hd-db-3 reports once and stops: the clock of its unresponsiveness starts now.
  const silent = host('hd-db-3');
  const s = daemon(silent);
  await nextReport(silent.state, 0, (r) => r.outcome === 'run', 60_000);
  await waitForStatus({ 'hd-db-3': 'intentional change' }, 20_000);
  s.child.kill('SIGTERM');
  await s.exited;

  const paused = host('hd-db-1');
  expect((await onetime(paused)).exitCode).toBe(2);
  expect((await runCli(['agent', 'disable', '--reason', REASON, '--state-dir', paused.state, '--root', paused.root])).code).toBe(0);
  daemon(paused);
  daemon(web2());
  daemon(host('hd-db-2'));
  daemon(host('hd-db-4'), '--noop');
  daemon(host('hd-db-5'));

  // hd-web-1 converges, then drifts: its container is removed by hand.
  const first = await onetime(web1());
  expect(first.exitCode, JSON.stringify(first.resources)).toBe(2);
  expect(readFileSync(path.join(web1().root, 'etc/app.conf'), 'utf8')).toBe(`token=${SECRET}\n`);
  docker('rm', '-f', container('web-1'));

  // hd-db-5's data now names a secret the server does not have: its fresh catalogue fails (422), it runs the cached one.
  await waitForStatus({ 'hd-db-5': 'unchanged' });
  writeFileSync(path.join(sb.root, 'fleet/environments/production/data/nodes/hd-db-5.yaml'), 'hddb:\n  text: !secret hd_absent\n');
  server.proc.kill('SIGHUP');
  for (const deadline = Date.now() + 60_000; (await fleetStatus())['hd-db-5']?.cachedCatalogue !== true; await new Promise((r) => setTimeout(r, 250))) {
    if (Date.now() > deadline) throw new Error(`hd-db-5 never ran its cached catalogue:\n${server.log().slice(-2000)}`);
  }
  await waitForStatus({
    'hd-db-3': 'unresponsive',
    'hd-db-1': 'disabled',
    'hd-web-2': 'failed',
    'hd-db-2': 'unchanged',
    'hd-db-4': 'noop pending',
    'hd-db-5': 'unchanged',
  });
  // The repair comes last, so every status holds when the browser looks.
  const repair = await onetime(web1());
  expect(repair.resources.find((r: any) => r.kind === 'docker.container').cause).toBe('corrective');
  await waitForStatus({ 'hd-web-1': 'corrective change' }, 10_000);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
}, 420_000);

afterAll(async () => {
  await browser?.close();
  for (const d of daemons)
    if (d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGTERM');
      await d.exited;
    }
  await server?.stop();
  sb?.cleanup();
}, 120_000);

/** Every response body the browser received (documents, scripts, styles). */
const seen: string[] = [];
function watch(page: Page): Page {
  page.on('response', (r) => {
    void r.text().then(
      (t) => seen.push(t),
      () => undefined,
    );
  });
  page.on('dialog', (d) => {
    seen.push(`DIALOG ${d.message()}`);
    void d.dismiss();
  });
  return page;
}
const visibleRows = (page: Page): Promise<string[]> =>
  page.$$eval('#nodes tbody tr:not([hidden])', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.node!));

describe('the dashboard in a browser', () => {
  it('refuses every request without the token, and leaks nothing', async () => {
    expect(statSync(path.join(stateDir(), 'dashboard.token')).mode & 0o777).toBe(0o600);
    const bodies = new Set<string>();
    for (const p of ['/', '/?status=failed', '/nodes/hd-web-1', '/nodes/hd-nope', '/metrics', '/v1/nodes']) {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-token-0123456789' },
        { cookie: 'tsconverge_dashboard=1700000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      ]) {
        const r = await fetch(dash + p, { headers, redirect: 'manual' });
        expect(r.status, `${p} ${JSON.stringify(headers)}`).toBe(401);
        // The login form, which echoes only the asked path (to return to it): the same answer for a node that exists and one that does not.
        const body = (await r.text()).replace(`name="next" value="${p.replace(/&/g, '&amp;')}"`, 'name="next" value="PATH"');
        expect(body).not.toMatch(/hd-(web|db)-|corrective|unresponsive|disabled/);
        expect(body).toMatch(/name="token"/);
        // It names where this server keeps its token, not a placeholder.
        expect(body).toContain(`<code class="token-file">${path.join(stateDir(), 'dashboard.token')}</code>`);
        bodies.add(body);
      }
    }
    expect(bodies.size).toBe(1);
    const ok = await fetch(dash + '/', { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toMatch(/script-src 'self'.*frame-ancestors 'none'/);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    // The agents' port serves no dashboard, even to an operator.
    expect((await request(`https://127.0.0.1:${PORT}`, '', operatorTls(caDir()))).status).toBe(404);
  });

  it('logs in with the token: an HttpOnly, SameSite=Strict cookie', async () => {
    const page = watch(await ctx.newPage());
    const first = await page.goto(dash + '/nodes/hd-web-2');
    expect(first!.status()).toBe(401);
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('form.login button');
    expect(await page.textContent('.error')).toMatch(/not the dashboard token/);
    await page.fill('#token', token);
    await page.click('form.login button');
    await page.waitForURL(`${dash}/nodes/hd-web-2`);
    const [cookie] = await ctx.cookies();
    expect(cookie).toMatchObject({ name: 'tsconverge_dashboard', httpOnly: true, sameSite: 'Strict', secure: false });
    expect(cookie!.value).not.toContain(token);
    await page.close();
  });

  it('the overview shows the right counts, statuses, roles and the disable reason', async () => {
    await settled();
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/');
    const counts = Object.fromEntries(await page.$$eval('[data-count]', (els) => els.map((e) => [(e as HTMLElement).dataset.count!, Number(e.textContent)])));
    expect(counts).toEqual({
      failed: 1,
      'corrective change': 1,
      'intentional change': 0,
      'noop pending': 1,
      unchanged: 2,
      disabled: 1,
      unresponsive: 1,
      'never reported': 0,
      cached: 1,
    });
    // Worst first: failed, unresponsive, repaired drift, pending noop, disabled, then the healthy ones by name.
    const rows = await page.$$eval('#nodes tbody tr', (trs) =>
      trs.map((tr) => {
        const d = (tr as HTMLElement).dataset;
        return [d.node, d.status, d.role, d.environment];
      }),
    );
    expect(rows).toEqual([
      ['hd-web-2', 'failed', 'web', 'production'],
      ['hd-db-3', 'unresponsive', 'db', 'production'],
      ['hd-web-1', 'corrective change', 'web', 'production'],
      ['hd-db-4', 'noop pending', 'db', 'production'],
      ['hd-db-1', 'disabled', 'db', 'production'],
      ['hd-db-2', 'unchanged', 'db', 'production'],
      ['hd-db-5', 'unchanged', 'db', 'production'],
    ]);
    // The tiles in the same order.
    expect((await page.$$eval('[data-count]', (els) => els.map((e) => (e as HTMLElement).dataset.count))).slice(0, 5)).toEqual([
      'failed',
      'unresponsive',
      'corrective change',
      'noop pending',
      'disabled',
    ]);
    // Per host: failed and changed resources of its last run, its last failure and last change.
    const cells = async (n: string): Promise<Record<string, string>> =>
      Object.fromEntries(
        await page.$$eval(`tr[data-node="${n}"] td[data-col]`, (tds) => tds.map((td) => [(td as HTMLElement).dataset.col!, td.textContent!.trim()])),
      );
    const web2 = await cells('hd-web-2');
    expect(Number(web2.failed)).toBeGreaterThanOrEqual(1);
    expect(web2['last-failure']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    const web1 = await cells('hd-web-1');
    expect(web1).toMatchObject({ failed: '0', changed: '1' });
    expect(web1['last-change']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    expect(web1['last-failure']).toBe('never');
    // The digests live on the host's page, not here.
    expect(await page.locator('#nodes thead').textContent()).not.toMatch(/digest|code version/i);
    expect(await page.textContent('tr[data-node="hd-db-1"]')).toContain(REASON);
    expect(await page.textContent('tr[data-node="hd-db-5"]')).toContain('cached catalogue');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    // Text contrast (WCAG AA, 4.5:1) of every status badge, count and table cell as rendered.
    const low = await page.evaluate(() => {
      const rgb = (c: string): number[] => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = (c: number[]): number => {
        const [r, g, b] = c.slice(0, 3).map((v) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
      };
      const bgOf = (el: Element | null): number[] => {
        for (; el; el = el.parentElement) {
          const c = rgb(getComputedStyle(el).backgroundColor);
          if (c.length === 3 || c[3] === 1) return c;
        }
        return [255, 255, 255];
      };
      return [...document.querySelectorAll('.status, .counts a, td, th, label, .age, caption')]
        .map((el) => {
          const a = lum(rgb(getComputedStyle(el).color));
          const b = lum(bgOf(el));
          return { text: el.textContent!.trim().slice(0, 30), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
        })
        .filter((x) => x.text && x.ratio < 4.5);
    });
    expect(low).toEqual([]);
    await page.close();
  });

  it('filters as you type (JavaScript), and keeps the address in step', async () => {
    await settled();
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/');
    await page.fill('#q', 'web');
    expect(await visibleRows(page)).toEqual(['hd-web-2', 'hd-web-1']);
    expect(await page.textContent('#shown-n')).toBe('2');
    await page.selectOption('#status', 'failed');
    expect(await visibleRows(page)).toEqual(['hd-web-2']);
    expect(page.url()).toBe(`${dash}/?q=web&status=failed`);
    await page.fill('#q', '');
    await page.selectOption('#status', '');
    await page.selectOption('#role', 'db');
    expect(await visibleRows(page)).toEqual(['hd-db-3', 'hd-db-4', 'hd-db-1', 'hd-db-2', 'hd-db-5']);
    await page.selectOption('#status', 'cached');
    expect(await visibleRows(page)).toEqual(['hd-db-5']);
    await page.selectOption('#status', '');
    await page.selectOption('#environment', 'production');
    await page.selectOption('#status', 'unresponsive');
    expect(await visibleRows(page)).toEqual(['hd-db-3']);
    await page.close();
  });

  it('filters without JavaScript: a GET form answered by the server', async () => {
    await settled();
    const noJs = await browser.newContext({ javaScriptEnabled: false, storageState: await ctx.storageState() });
    const page = watch(await noJs.newPage());
    await page.goto(dash + '/?status=disabled');
    expect(await visibleRows(page)).toEqual(['hd-db-1']);
    await page.goto(dash + '/');
    await page.fill('#q', 'db');
    await page.selectOption('#status', 'noop pending');
    await page.click('#filters button[type=submit]');
    await page.waitForURL(/status=noop\+pending/);
    expect(page.url()).toBe(`${dash}/?q=db&status=noop+pending&environment=&role=`);
    expect(await visibleRows(page)).toEqual(['hd-db-4']);
    expect(await page.inputValue('#q')).toBe('db');
    await noJs.close();
  });

  it('keyboard focus reaches the filter, visibly', async () => {
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/');
    let id = '';
    for (let i = 0; i < 20 && id !== 'q'; i++) {
      await page.keyboard.press('Tab');
      id = await page.evaluate(() => document.activeElement?.id ?? '');
    }
    expect(id).toBe('q');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.type('web-2');
    expect(await visibleRows(page)).toEqual(['hd-web-2']);
    expect(await page.$$eval('label[for]', (ls) => ls.map((l) => l.getAttribute('for')))).toEqual(
      expect.arrayContaining(['q', 'status', 'environment', 'role']),
    );
    await page.close();
  });

  it('a node page shows the failed resource and its error, the runs, a chart and the facts', async () => {
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/');
    await page.click('a[href="/nodes/hd-web-2"]');
    await page.waitForURL(`${dash}/nodes/hd-web-2`);
    const rep = reports(web2().state)
      .filter((r) => r.outcome === 'run')
      .pop();
    const failed = rep.resources.find((r: any) => r.status === 'failed');
    expect(failed.id).toBe(`docker.container[${container('web-2')}]`);
    // A failed create made no change: it has no cause (it is not "intentional").
    expect(failed.cause).toBeUndefined();
    const row = page.locator('details.run[open] tr.r-failed');
    expect(await row.locator('th').textContent()).toBe(failed.id);
    expect(await row.locator('td').nth(1).textContent()).toBe('none: no change made');
    // The digests moved here from the overview.
    expect(await page.textContent('dl.facts-head')).toMatch(/Catalogue digest\s*sha256:[0-9a-f]{64}/);
    const err = await row.locator('.err').textContent();
    expect(err).toContain(failed.error.code);
    expect(err).toContain(failed.error.message.slice(0, 60));
    expect(await page.locator('table.runs tbody tr').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#runs-chart .bar').count()).toBe(await page.locator('table.runs tbody tr').count());
    expect(await page.textContent('table.facts')).toContain('os.codename');
    await screenshot(page, 'dashboard-node.png');

    // The repaired node: the drift shows as corrective, its secret only as masked.
    await page.goto(dash + '/nodes/hd-web-1');
    const repaired = page.locator('details.run[open] tr.r-changed');
    expect(await repaired.locator('th').textContent()).toBe(`docker.container[${container('web-1')}]`);
    // The cause, then what the watcher saw: this drift was found by the sweep, not an event.
    expect(await repaired.locator('td').nth(1).textContent()).toMatch(/^corrective/);
    expect(await repaired.locator('td').nth(1).locator('.seen').textContent()).toContain('seen at sweep');
    expect(await page.textContent('table.runs tbody tr:first-child')).toContain('0 / 1');
    await page.close();
  });

  it('facts from an agent are shown as text, never run as markup', async () => {
    // hd-db-3's own certificate sends hostile facts (as a compromised host could).
    const p = stateLayout(host('hd-db-3').state).ssl('hd-db-3');
    const tls = { ca: readFileSync(p.ca, 'utf8'), cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') };
    const put = await request(`https://127.0.0.1:${PORT}`, 'v1/nodes/hd-db-3/facts', tls, {
      method: 'PUT',
      json: { facts: { hostname: 'hd-db-3', note: HOSTILE } },
    });
    expect(put.status).toBe(204);
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/nodes/hd-db-3');
    expect(await page.textContent('table.facts')).toContain(HOSTILE);
    expect(await page.evaluate(() => (window as unknown as { hdPwned?: number }).hdPwned)).toBeUndefined();
    expect(await page.locator('table.facts img, table.facts script').count()).toBe(0);
    await page.close();
  });

  it('no page, script or style ever carries the secret', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (const p of [
      '/',
      '/?q=web',
      '/changes',
      '/changes?cause=corrective',
      '/assets/dashboard.js',
      '/assets/dashboard.css',
      ...['hd-web-1', 'hd-web-2', 'hd-db-1', 'hd-db-2', 'hd-db-3', 'hd-db-4', 'hd-db-5'].map((n) => `/nodes/${n}`),
    ]) {
      const r = await fetch(dash + p, { headers: auth });
      expect(r.status, p).toBe(200);
      seen.push(await r.text());
    }
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.some((t) => t.includes('/etc/app.conf') || t.includes('app-conf'))).toBe(true);
    for (const t of seen) expect(t).not.toContain(SECRET);
    expect(seen.filter((t) => t.startsWith('DIALOG'))).toEqual([]);
  });

  it('/metrics has the fleet gauges', async () => {
    await settled();
    const a = await request(`https://127.0.0.1:${PORT}`, 'metrics', operatorTls(caDir()));
    const text = a.body.toString();
    for (const [s, n] of [
      ['failed', 1],
      ['corrective change', 1],
      ['disabled', 1],
      ['noop pending', 1],
      ['never reported', 0],
    ] as const) {
      expect(text).toContain(`tsconverge_nodes{status="${s}"} ${n}`);
    }
    const age = Number(/^tsconverge_oldest_report_age_seconds (\S+)$/m.exec(text)![1]);
    expect(age).toBeGreaterThan(30);
    expect(text).toMatch(/^tsconverge_nodes_cached_catalogue 1$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error, 'promtool (scripts/setup.sh installs prometheus)').toBeUndefined();
    expect(check.stdout + check.stderr).not.toMatch(/tsconverge_nodes|tsconverge_oldest/);
  });

  it('the recent changes of the whole fleet, filtered by resource and cause', async () => {
    await settled();
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/');
    await page.click('nav a[href="/changes"]');
    await page.waitForURL(`${dash}/changes`);
    const events = (): Promise<string[][]> =>
      page.$$eval('#changes tbody tr', (trs) =>
        trs.map((tr) => {
          const d = (tr as HTMLElement).dataset;
          return [d.node!, d.resource!, d.status!, d.cause!];
        }),
      );
    const all = await events();
    // The repair of hd-web-1's container, the failed create of hd-web-2's, hd-db-4's pending changes under noop.
    expect(all).toContainEqual(['hd-web-1', `docker.container[${container('web-1')}]`, 'changed', 'corrective']);
    expect(all).toContainEqual(['hd-web-2', `docker.container[${container('web-2')}]`, 'failed', '']);
    expect(all.some(([n, , s]) => n === 'hd-db-4' && s === 'pending')).toBe(true);
    await screenshot(page, 'dashboard-changes.png');
    await page.fill('#resource', 'docker.container');
    await page.selectOption('#cause', 'corrective');
    await page.click('#change-filters button[type=submit]');
    await page.waitForURL(/cause=corrective/);
    const filtered = await events();
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every(([, id, , cause]) => id!.startsWith('docker.container[') && cause === 'corrective')).toBe(true);
    expect(filtered.map(([n]) => n)).toContain('hd-web-1');
    await page.selectOption('#cause', 'failed');
    await page.click('#change-filters button[type=submit]');
    await page.waitForURL(/cause=failed/);
    expect((await events()).map(([n, , s, c]) => [n, s, c])).toEqual(expect.arrayContaining([['hd-web-2', 'failed', '']]));
    expect((await events()).every(([, , s]) => s === 'failed')).toBe(true);
    await page.close();
  });

  it('holds its layout at 800, 1280 and 1920 px: no sideways scroll, host names on one line, no tile alone on a row', async () => {
    // The screenshots show the fleet as set up (a corrective change, not a silent host).
    if (SHOTS) await settled();
    for (const width of WIDTHS) {
      const c = await browser.newContext({ viewport: { width, height: 900 }, storageState: await ctx.storageState() });
      const page = watch(await c.newPage());
      for (const p of ['/', '/changes', '/nodes/hd-web-2']) {
        await page.goto(dash + p);
        const m = await page.evaluate(() => {
          const lines = (el: Element): number => {
            const r = document.createRange();
            r.selectNodeContents(el);
            const tops = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
            return tops.size;
          };
          const tiles = [...document.querySelectorAll('ul.counts li')].map((li) => Math.round(li.getBoundingClientRect().top));
          const rowsOfTiles = [...new Set(tiles)].map((t) => tiles.filter((x) => x === t).length);
          return {
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            broken: [...document.querySelectorAll('th.host a, h1.host')].filter((el) => lines(el) > 1).map((el) => el.textContent),
            rowsOfTiles,
          };
        });
        expect(m.overflow, `${p} at ${width} px scrolls sideways`).toBeLessThanOrEqual(0);
        expect(m.broken, `${p} at ${width} px`).toEqual([]);
        if (p === '/') {
          expect(m.rowsOfTiles.reduce((a, b) => a + b, 0)).toBe(9);
          expect(m.rowsOfTiles.length === 1 || m.rowsOfTiles.every((n) => n > 1), `tiles per row at ${width} px: ${m.rowsOfTiles}`).toBe(true);
          await screenshot(page, `dashboard-overview-${width}.png`);
        }
      }
      await c.close();
    }
  });

  it('refreshes itself in place and keeps the filters', async () => {
    const page = watch(await ctx.newPage());
    await page.goto(dash + '/?refresh=2');
    await page.fill('#q', 'db');
    await page.selectOption('#role', 'db');
    expect(page.url()).toBe(`${dash}/?q=db&role=db&refresh=2`);
    const shown = await visibleRows(page);
    expect(shown).toContain('hd-db-2');
    // hd-db-2's agent is paused: its next report (every 4 s) makes it disabled; the page shows it without a reload.
    const paused = host('hd-db-2');
    expect((await runCli(['agent', 'disable', '--reason', 'refresh check', '--state-dir', paused.state, '--root', paused.root])).code).toBe(0);
    await waitForStatus({ 'hd-db-2': 'disabled' }, 30_000);
    await page.waitForFunction(() => document.querySelector('tr[data-node="hd-db-2"]')?.getAttribute('data-status') === 'disabled', undefined, {
      timeout: 30_000,
    });
    expect(Number(await page.getAttribute('#main', 'data-refreshed'))).toBeGreaterThanOrEqual(1);
    expect(await page.inputValue('#q')).toBe('db');
    expect(await page.inputValue('#role')).toBe('db');
    expect(page.url()).toBe(`${dash}/?q=db&role=db&refresh=2`);
    expect(await visibleRows(page)).toEqual(expect.arrayContaining(['hd-db-2']));
    expect((await visibleRows(page)).every((n) => n.includes('db'))).toBe(true);
    expect(await page.textContent('tr[data-node="hd-db-2"]')).toContain('refresh check');
    await page.close();
  });
});

describe('screenshots', () => {
  it('are written only when TSCONVERGE_SCREENSHOTS asks for them', () => {
    if (SHOTS)
      expect(readdirSync(SHOTS)).toEqual(
        expect.arrayContaining([
          'dashboard-overview-800.png',
          'dashboard-overview-1280.png',
          'dashboard-overview-1920.png',
          'dashboard-node.png',
          'dashboard-changes.png',
        ]),
      );
    else expect(imgState()).toEqual(imgBefore);
  });
});

describe('a TLS dashboard', () => {
  it('admits an operator certificate or the token, never a node certificate', async () => {
    for (const d of daemons)
      if (d.child.exitCode === null && d.child.signalCode === null) {
        d.child.kill('SIGTERM');
        await d.exited;
      }
    await server.stop();
    // This time with a token file of the operator's choosing.
    const tokenFile = path.join(sb.root, 'my-dashboard.token');
    const myToken = 'operator-chosen-token-0123456789abcdef';
    writeFileSync(tokenFile, `${myToken}\n`, { mode: 0o600 });
    server = await startServer(
      [
        '--fleet',
        path.join(sb.root, 'fleet'),
        '--state-dir',
        stateDir(),
        '--agent-interval',
        '15',
        '--dashboard',
        `127.0.0.1:${DASH_TLS}`,
        '--dashboard-tls',
        '--dashboard-token-file',
        tokenFile,
      ],
      PORT,
      { TSCONVERGE_SECRET_HD_TOKEN: SECRET },
    );
    await waitFor('the TLS dashboard', () => /dashboard on https:/.test(server.log()), 30_000);
    const base = `https://127.0.0.1:${DASH_TLS}`;
    const op = operatorTls(caDir());
    const asOperator = await request(base, '', op);
    expect(asOperator.status).toBe(200);
    expect(asOperator.body.toString()).toContain('hd-web-2');
    const p = stateLayout(web1().state).ssl('hd-web-1');
    const asNode = await request(base, '', { ca: op.ca, cert: readFileSync(p.cert, 'utf8'), key: readFileSync(p.key, 'utf8') });
    expect(asNode.status).toBe(401);
    expect(asNode.body.toString()).not.toContain('hd-web-2');
    expect((await request(base, 'nodes/hd-web-2', { ca: op.ca })).status).toBe(401);
    expect((await request(base, '', { ca: op.ca }, { headers: { authorization: `Bearer ${myToken}` } })).status).toBe(200);
    expect((await request(base, '', { ca: op.ca }, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const login = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
      const body = `token=${encodeURIComponent(myToken)}&next=%2F`;
      const req = https.request(
        `${base}/login`,
        { method: 'POST', ca: op.ca, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, cookie: String(res.headers['set-cookie']) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(login.status).toBe(303);
    expect(login.cookie).toMatch(/HttpOnly; SameSite=Strict; Max-Age=\d+; Secure/);
  }, 240_000);
});

describe('the single executable', () => {
  it('serves the dashboard and its assets from its SEA assets', async () => {
    const exe = path.join(REPO, 'dist/tsconverge');
    if (!existsSync(exe)) throw new Error(`${exe} is missing: run npm run build (scripts/setup.sh does)`);
    const dir = path.join(sb.root, 'sea');
    mkdirSync(dir, { recursive: true });
    execFileSync(exe, ['ca', 'init', '--state-dir', dir], { stdio: 'ignore' });
    const proc = spawn(
      exe,
      [
        'server',
        '--fleet',
        path.join(sb.root, 'fleet'),
        '--state-dir',
        dir,
        '--host',
        '127.0.0.1',
        '--port',
        String(SEA_PORT),
        '--dashboard',
        String(SEA_DASH),
      ],
      {
        cwd: '/',
        env: { PATH: process.env.PATH ?? '', TSCONVERGE_CACHE_DIR: path.join(dir, 'cache'), TSCONVERGE_SECRET_HD_TOKEN: SECRET },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let log = '';
    proc.stderr!.on('data', (d) => {
      log += d;
    });
    try {
      await waitFor("the single executable's dashboard", () => /dashboard on/.test(log) || proc.exitCode !== null, 150_000, 200);
      expect(log).toMatch(/dashboard on http:\/\/127\.0\.0\.1:/);
      for (const f of ['dashboard.js', 'dashboard.css']) {
        const r = await fetch(`http://127.0.0.1:${SEA_DASH}/assets/${f}`);
        expect(r.status).toBe(200);
        expect(await r.text()).toBe(readFileSync(path.join(REPO, 'src/server/dashboard/static', f), 'utf8'));
      }
      const seaToken = readFileSync(path.join(dir, 'dashboard.token'), 'utf8').trim();
      const page = await fetch(`http://127.0.0.1:${SEA_DASH}/`, { headers: { authorization: `Bearer ${seaToken}` } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('Fleet overview');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
    }
  }, 200_000);
});
