/**
 * The dashboard's pages, rendered on the server (html.ts escapes every value). The
 * overview filters on the server from its query string (a GET form: works without
 * JavaScript); static/dashboard.js filters the same rows as you type.
 */
import { html, query, type Html } from './html.js';
import { describeSeen, type Seen } from '../../engine/seen.js';
import { renderRunChart, type ChartRun } from './chart.js';
import { STATUSES, countByStatus, type FleetNode, type NodeDetail } from './fleet.js';
import type { NodeStatus } from '../store.js';

export interface OverviewFilter {
  readonly q?: string;
  readonly status?: string;
  readonly environment?: string;
  readonly role?: string;
}

/** The status filter also accepts `cached` (nodes whose last run used the cached catalogue). */
export const CACHED = 'cached';

export function matches(n: FleetNode, f: OverviewFilter): boolean {
  if (f.q && !n.node.toLowerCase().includes(f.q.toLowerCase())) return false;
  if (f.status && (f.status === CACHED ? !n.cachedCatalogue : n.status !== f.status)) return false;
  if (f.environment && n.environment !== f.environment) return false;
  if (f.role && n.role !== f.role) return false;
  return true;
}

const STATUS_HELP: Record<string, string> = {
  failed: 'the last run had failed or skipped resources, or no catalogue',
  'corrective change': 'the last run repaired drift: the host differed from an unchanged catalogue',
  'intentional change': 'the last run applied a changed catalogue',
  'noop pending': 'a noop run found changes it did not make',
  unchanged: 'the last run changed nothing',
  disabled: 'the agent is paused (tsconverge agent disable) with a reason',
  unresponsive: 'no report within the unresponsive threshold',
  'never reported': 'enrolled or asked for a catalogue, never sent a report',
};

export const slug = (s: string): string => s.replace(/[^a-z]+/g, '-');
export const short = (d: string | undefined | null): string => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '');
export const time = (iso: string | undefined | null): Html =>
  iso ? html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>` : html`<span class="none">never</span>`;

function age(iso: string | undefined, nowMs: number): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  return s < 90
    ? `${s} s ago`
    : s < 5400
      ? `${Math.round(s / 60)} min ago`
      : s < 172_800
        ? `${Math.round(s / 3600)} h ago`
        : `${Math.round(s / 86400)} days ago`;
}

/** Seconds between automatic refreshes of the overview and the changes page (`?refresh=N`, at least 2; 0: off). */
export const DEFAULT_REFRESH_SECONDS = 30;
export function refreshSeconds(v: string | undefined): number {
  const n = Number(v);
  return v === undefined || v === '' || !Number.isFinite(n) ? DEFAULT_REFRESH_SECONDS : n <= 0 ? 0 : Math.max(2, Math.min(3600, Math.round(n)));
}

export function layout(title: string, body: Html, opts: { loggedIn?: boolean; current?: 'hosts' | 'changes' | 'rollout'; refresh?: number } = {}): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} &middot; tsconverge</title>
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">tsconverge fleet</a>
${
  opts.loggedIn
    ? html`<nav class="nav" aria-label="Pages"><a href="/"${opts.current === 'hosts' ? html` aria-current="page"` : ''}>Hosts</a> <a href="/changes"${opts.current === 'changes' ? html` aria-current="page"` : ''}>Recent changes</a> <a href="/rollout"${opts.current === 'rollout' ? html` aria-current="page"` : ''}>Rollout</a></nav>
<form class="logout" method="post" action="/logout"><button type="submit">Log out</button></form>`
    : ''
}
</header>
<main id="main" tabindex="-1"${opts.refresh ? html` data-refresh="${opts.refresh}"` : ''}>
${body}
</main>
</body>
</html>
`.text;
}

export function statusBadge(status: string, extra?: string): Html {
  return html`<span class="status s-${slug(status)}">${status}</span>${extra ? html` <span class="reason">${extra}</span>` : ''}`;
}

/** `waitSeconds`: too many wrong tokens came from this address; it may try again after that long. */
/** `tokenFile`: where this server keeps the token (what an operator reads it from). */
export function loginPage(opts: { next: string; tokenFile: string; error?: string; waitSeconds?: number }): string {
  return layout(
    'Log in',
    html`<h1>Log in</h1>
<p>Paste the dashboard token. This server keeps it in <code class="token-file">${opts.tokenFile}</code> on its host: <code>sudo cat ${opts.tokenFile}</code>.</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
${opts.waitSeconds ? html`<p class="error wait" role="alert">Too many wrong tokens from your address: try again in <span id="wait-seconds">${opts.waitSeconds}</span> seconds.</p>` : ''}
<form class="login" method="post" action="/login">
<input type="hidden" name="next" value="${opts.next}">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>`,
  );
}

export function errorPage(status: number, message: string, loggedIn: boolean): string {
  return layout(`${status}`, html`<h1>${message}</h1><p><a href="/">Back to the overview</a></p>`, { loggedIn });
}

function options(values: readonly string[], selected: string | undefined, all: string): Html {
  return html`<option value="">${all}</option>${values.map((v) => html`<option value="${v}"${v === selected ? html` selected` : ''}>${v}</option>`)}`;
}

/** The overview's backup cell: overdue volumes flagged, else the age of the stalest snapshot. */
function backupCell(n: FleetNode, nowMs: number): Html {
  const b = n.backups ?? [];
  if (!b.length) return html``;
  const overdue = b.filter((x) => x.overdue);
  if (overdue.length) {
    const list = overdue.map((x) => `${x.volume} (${x.lastSuccess ? `last ${age(x.lastSuccess, nowMs)}` : 'never backed up'})`).join(', ');
    return html`<span class="status s-backup-overdue" data-backup="overdue" title="${list}">${overdue.length} backup${overdue.length === 1 ? '' : 's'} overdue</span>`;
  }
  const oldest = b.map((x) => x.lastSuccess ?? '').sort()[0];
  return html`<span class="status s-backup-fresh" data-backup="fresh" title="${b.map((x) => x.volume).join(', ')}">${b.length} fresh</span> <span class="age">${age(oldest, nowMs)}</span>`;
}

/** The cause of a resource's change: only a change (or a pending one) has one; a failed or skipped resource made none. */
export function causeOf(x: { status?: string; cause?: string }): string {
  return x.status === 'changed' || x.status === 'pending' ? (x.cause ?? '') : '';
}

const count = (n: number | undefined, cls: string): Html =>
  n === undefined ? html`<span class="none">-</span>` : html`<span class="${n > 0 ? cls : 'zero-n'}">${n}</span>`;

function refreshNote(refresh: number, nowMs: number): Html {
  const at = new Date(nowMs).toISOString();
  return html`<p class="refresh"><span id="updated">Updated <time datetime="${at}">${at.slice(11, 19)} UTC</time></span>${
    refresh ? html`<span class="auto"> &middot; <label><input type="checkbox" id="autorefresh" checked> refresh every ${refresh} s</label></span>` : ''
  }</p>`;
}

/**
 * A page of a fleet too large for one page (more than OVERVIEW_PAGE nodes): the counts come
 * from the store, `nodes` are this page's rows (the filters applied by the server), and the
 * page links carry the filters.
 */
export interface OverviewPaging {
  readonly counts: Record<NodeStatus, number>;
  readonly cached: number;
  readonly total: number;
  readonly matching?: number;
  readonly page: number;
  readonly more: boolean;
}

/** Nodes on one page of the overview; a fleet up to this size is one page, filtered in the browser. */
export const OVERVIEW_PAGE = 500;

export function overviewPage(
  nodes: readonly FleetNode[],
  f: OverviewFilter,
  code: { version?: string; error?: { message: string; at: string } },
  nowMs = Date.now(),
  refresh = DEFAULT_REFRESH_SECONDS,
  paging?: OverviewPaging,
): string {
  const counts = paging?.counts ?? countByStatus(nodes);
  const cached = paging?.cached ?? nodes.filter((n) => n.cachedCatalogue).length;
  const envs = [...new Set(nodes.map((n) => n.environment).filter((e): e is string => !!e))].sort();
  const roles = [...new Set(nodes.map((n) => n.role).filter((r): r is string => !!r))].sort();
  const shown = nodes.filter((n) => matches(n, f)).length;
  const countItem = (status: string, n: number, label = status): Html =>
    html`<li class="count s-${slug(status)}${n === 0 ? ' zero' : ''}"><a href="/${query({ status })}" title="${STATUS_HELP[status] ?? 'the last run used the cached (last-known-good) catalogue'}"><span class="n" data-count="${status}">${n}</span> <span class="label">${label}</span></a></li>`;
  const when = (iso: string | undefined): Html =>
    iso ? html`${time(iso)} <span class="age">${age(iso, nowMs)}</span>` : html`<span class="none">never</span>`;
  const rows = nodes.map(
    (
      n,
    ) => html`<tr data-node="${n.node}" data-status="${n.status}" data-environment="${n.environment ?? ''}" data-role="${n.role ?? ''}" data-cached="${n.cachedCatalogue ? '1' : ''}"${matches(n, f) ? '' : html` hidden`}>
<th scope="row" class="host"><a href="/nodes/${encodeURIComponent(n.node)}">${n.node}</a></th>
<td>${statusBadge(n.status, n.disabledReason)}${n.cachedCatalogue ? html` <span class="status s-cached">cached catalogue</span>` : ''}</td>
<td class="num" data-col="failed">${count(n.failed, 'bad-n')}</td>
<td class="num" data-col="changed">${count(n.changed, 'chg-n')}</td>
<td data-col="last-failure">${when(n.lastFailureAt)}</td>
<td data-col="last-change">${when(n.lastChangeAt)}</td>
<td data-col="last-run">${when(n.lastReportAt)}</td>
<td data-col="backups">${backupCell(n, nowMs)}</td>
<td class="wide-only">${n.environment ?? ''}</td>
<td class="wide-only">${n.role ?? ''}</td>
</tr>`,
  );
  return layout(
    'Fleet overview',
    html`<h1>Fleet overview</h1>
<p class="code" id="code-line">Serving fleet code <code title="${code.version ?? ''}">${short(code.version) || 'none'}</code>${code.error ? html` <strong class="error">&middot; the fleet tree on disk does not compile (since ${code.error.at}); still serving this code</strong>` : ''}</p>
${refreshNote(refresh, nowMs)}
<h2 id="counts-h">Hosts by status, worst first</h2>
<ul class="counts" id="counts" aria-labelledby="counts-h">
${STATUSES.map((s) => countItem(s, counts[s]))}
${countItem(CACHED, cached, 'on a cached catalogue')}
</ul>
<form id="filters" class="filters" method="get" action="/" role="search" aria-label="Filter nodes">
<div><label for="q">Name</label> <input id="q" name="q" type="search" value="${f.q ?? ''}" placeholder="part of a node name" autocomplete="off"></div>
<div><label for="status">Status</label> <select id="status" name="status">${options([...STATUSES, CACHED], f.status, 'any status')}</select></div>
<div><label for="environment">Environment</label> <select id="environment" name="environment">${options(envs, f.environment, 'any environment')}</select></div>
<div><label for="role">Role</label> <select id="role" name="role">${options(roles, f.role, 'any role')}</select></div>
${refresh !== DEFAULT_REFRESH_SECONDS ? html`<input type="hidden" name="refresh" value="${refresh}">` : ''}
<div class="buttons"><button type="submit">Filter</button> <a href="/">Clear</a></div>
</form>
<p id="shown" aria-live="polite"><span id="shown-n">${shown}</span> of ${paging ? paging.total : nodes.length} nodes shown${paging ? html` (page ${paging.page + 1}${paging.matching !== undefined ? html` of ${Math.max(1, Math.ceil(paging.matching / OVERVIEW_PAGE))}` : ''}, ${OVERVIEW_PAGE} per page, worst first)` : ''}</p>
${paging ? html`<nav class="pages" aria-label="Pages">${paging.page > 0 ? html`<a rel="prev" href="/${query({ ...f, page: String(paging.page - 1), ...(refresh !== DEFAULT_REFRESH_SECONDS ? { refresh: String(refresh) } : {}) })}">&larr; previous page</a> ` : ''}${paging.more ? html`<a rel="next" href="/${query({ ...f, page: String(paging.page + 1), ...(refresh !== DEFAULT_REFRESH_SECONDS ? { refresh: String(refresh) } : {}) })}">next page &rarr;</a>` : ''}</nav>` : ''}
<div class="table-wrap">
<table id="nodes" class="nodes">
<caption>Hosts, worst first: failed, unresponsive, repaired drift, pending noop changes, disabled, then the healthy ones. Failed and changed count the resources of the last run. Select a host for its runs, changes, facts and digests.</caption>
<thead><tr><th scope="col">Host</th><th scope="col">Status</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Changed</th><th scope="col">Last failure</th><th scope="col">Last change</th><th scope="col">Last run</th><th scope="col">Backups</th><th scope="col" class="wide-only">Environment</th><th scope="col" class="wide-only">Role</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</div>
<h2>What the statuses mean</h2>
<dl class="legend">${STATUSES.map((s) => html`<dt>${statusBadge(s)}</dt><dd>${STATUS_HELP[s]}</dd>`)}<dt><span class="status s-cached">cached catalogue</span></dt><dd>the fresh catalogue failed (server unreachable, or it did not compile): the agent ran its last-known-good one</dd></dl>`,
    { loggedIn: true, current: 'hosts', refresh },
  );
}

// ---- the fleet's recent changes -------------------------------------------------------

export interface ChangesFilter {
  readonly resource?: string;
  readonly cause?: string;
  readonly node?: string;
}
/** What the cause filter offers: the causes of changes, and what happened to resources that made none. */
export const CAUSE_FILTERS = ['intentional', 'corrective', 'failed', 'pending', 'skipped'] as const;

export interface ChangeEvent {
  readonly at: string;
  readonly node: string;
  readonly id: string;
  readonly status: string;
  readonly action?: string;
  readonly cause: string;
  readonly attributes: readonly string[];
  readonly error?: string;
  readonly noop: boolean;
}

/** Every resource of these reports that changed, would change (noop), failed or was skipped: newest first. */
export function changeEvents(reports: readonly { node: string; receivedAt: string; report: unknown }[]): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  for (const r of reports) {
    const rep = (r.report ?? {}) as RunReport;
    for (const x of rep.resources ?? []) {
      if (!x.status || x.status === 'unchanged') continue;
      out.push({
        at: rep.startedAt ?? r.receivedAt,
        node: r.node,
        id: x.id ?? '',
        status: x.status,
        action: x.action,
        cause: causeOf(x),
        noop: rep.noop === true,
        attributes: [...new Set((x.changes ?? []).map((c) => c.attribute ?? c.path ?? '').filter(Boolean))],
        error: x.error?.code,
      });
    }
  }
  return out;
}

export function matchesChange(e: ChangeEvent, f: ChangesFilter): boolean {
  if (f.resource && !e.id.toLowerCase().includes(f.resource.toLowerCase())) return false;
  if (f.node && e.node !== f.node) return false;
  if (f.cause && (f.cause === 'failed' || f.cause === 'pending' || f.cause === 'skipped' ? e.status !== f.cause : e.cause !== f.cause)) return false;
  return true;
}

export function changesPage(events: readonly ChangeEvent[], f: ChangesFilter, reports: number, nowMs = Date.now(), refresh = DEFAULT_REFRESH_SECONDS): string {
  const shown = events.filter((e) => matchesChange(e, f)).slice(0, 500);
  const nodes = [...new Set(events.map((e) => e.node))].sort();
  const rows = shown.map(
    (e) => html`<tr data-node="${e.node}" data-resource="${e.id}" data-status="${e.status}" data-cause="${e.cause}">
<td>${time(e.at)} <span class="age">${age(e.at, nowMs)}</span></td>
<th scope="row" class="host"><a href="/nodes/${encodeURIComponent(e.node)}">${e.node}</a></th>
<td><code>${e.id}</code></td>
<td>${statusBadge(e.status)}${e.action && e.action !== 'none' ? html` <span class="action">${e.action}</span>` : ''}${e.noop ? html` <span class="none">(noop)</span>` : ''}</td>
<td>${e.cause}</td>
<td>${e.error ? html`<code class="err-code">${e.error}</code>` : e.attributes.length ? e.attributes.slice(0, 8).join(', ') : ''}</td>
</tr>`,
  );
  return layout(
    'Recent changes',
    html`<h1>Recent changes</h1>
<p>What changed where, across the fleet: every resource the newest ${reports} runs of all hosts changed, would change (noop), failed or skipped, newest first.</p>
${refreshNote(refresh, nowMs)}
<form id="change-filters" class="filters" method="get" action="/changes" role="search" aria-label="Filter changes">
<div><label for="resource">Resource</label> <input id="resource" name="resource" type="search" value="${f.resource ?? ''}" placeholder="e.g. docker.container or motd" autocomplete="off"></div>
<div><label for="cause">Cause</label> <select id="cause" name="cause">${options(CAUSE_FILTERS, f.cause, 'any cause')}</select></div>
<div><label for="node">Host</label> <select id="node" name="node">${options(nodes, f.node, 'any host')}</select></div>
${refresh !== DEFAULT_REFRESH_SECONDS ? html`<input type="hidden" name="refresh" value="${refresh}">` : ''}
<div class="buttons"><button type="submit" class="always">Filter</button> <a href="/changes">Clear</a></div>
</form>
<p id="changes-shown"><span id="changes-n">${shown.length}</span> of ${events.length} resource events shown</p>
<div class="table-wrap">
<table id="changes" class="changes-table">
<caption>Causes: <strong>intentional</strong> (the catalogue changed: a rollout), <strong>corrective</strong> (the host drifted and was repaired); a failed or skipped resource made no change and has no cause.</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Host</th><th scope="col">Resource</th><th scope="col">Status</th><th scope="col">Cause</th><th scope="col">Attributes or error</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</div>
${shown.length ? '' : html`<p class="none">Nothing matches.</p>`}`,
    { loggedIn: true, current: 'changes', refresh },
  );
}

// ---- the node page -------------------------------------------------------------------

interface Change {
  path?: string;
  attribute?: string;
  from?: unknown;
  to?: unknown;
  sensitive?: boolean;
  diff?: string;
  added?: unknown[];
  removed?: unknown[];
}
interface ReportError {
  code?: string;
  message?: string;
  hint?: string;
  resource?: string;
}
interface BackupEntry {
  volume?: string;
  every?: string;
  lastSuccess?: string | null;
  snapshots?: number;
  sizeBytes?: number;
  durationSeconds?: number;
  overdue?: boolean;
}
interface ResourceEntry {
  id?: string;
  kind?: string;
  name?: string;
  status?: string;
  action?: string;
  cause?: string;
  drift?: string;
  seen?: unknown;
  changes?: Change[];
  error?: ReportError;
  durationMs?: number;
  details?: { backups?: BackupEntry[] };
}
interface RunReport {
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  outcome?: string;
  trigger?: string;
  noop?: boolean;
  exitCode?: number;
  catalogueDigest?: string | null;
  cachedCatalogue?: boolean;
  catalogueError?: ReportError;
  error?: ReportError;
  codeVersion?: string;
  summary?: { total?: number; changed?: number; pending?: number; failed?: number; skipped?: number; unchanged?: number };
  changes?: { intentional?: number; corrective?: number };
  agent?: { enabled?: boolean; disabledReason?: string; disabledBy?: string; disabledSince?: string };
  resources?: ResourceEntry[];
}

const clip = (s: string, n = 400): string => (s.length > n ? `${s.slice(0, n)}… (${s.length} characters)` : s);
const json = (v: unknown): string => (v === undefined ? '(absent)' : clip(typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v))));

function errorText(e: ReportError | undefined): Html {
  if (!e) return html``;
  return html`<div class="err"><code>${e.code ?? 'ERROR'}</code> ${clip(e.message ?? '', 2000)}${e.hint ? html`<div class="hint">hint: ${clip(e.hint, 1000)}</div>` : ''}</div>`;
}

function changeList(changes: readonly Change[] | undefined): Html {
  if (!changes?.length) return html``;
  return html`<ul class="changes">${changes
    .slice(0, 50)
    .map(
      (c) =>
        html`<li><code>${c.path ?? c.attribute ?? ''}</code>: ${
          c.diff
            ? html`<pre class="diff">${clip(c.diff, 4000)}</pre>`
            : c.added || c.removed
              ? html`${c.removed?.length ? html`removed ${json(c.removed)} ` : ''}${c.added?.length ? html`added ${json(c.added)}` : ''}`
              : html`<span class="from">${json(c.from)}</span> &rarr; <span class="to">${json(c.to)}</span>`
        }</li>`,
    )}${changes.length > 50 ? html`<li>&hellip; ${changes.length - 50} more</li>` : ''}</ul>`;
}

/** What the agent's watcher saw before a corrective change (engine/seen.ts), from a report checked only loosely at the door. */
function seenText(x: ResourceEntry, noop: boolean): Html {
  const s = x.seen as Partial<Seen> | undefined;
  if (!s || typeof s !== 'object') return html``;
  const ev = (s as { event?: unknown }).event;
  if (s.by !== 'sweep' && !(s.by === 'event' && ev && typeof ev === 'object' && typeof (ev as { time?: unknown }).time === 'string')) return html``;
  try {
    return html`<div class="seen">${clip(describeSeen(x.id ?? '', s as Seen, noop), 600)}</div>`;
  } catch {
    return html``;
  }
}

function runSection(r: RunReport, receivedAt: string, i: number): Html {
  const notable = (r.resources ?? []).filter((x) => x.status && x.status !== 'unchanged');
  const s = r.summary ?? {};
  return html`<details class="run"${i === 0 ? html` open` : ''}>
<summary>${time(r.startedAt ?? receivedAt)} &middot; ${r.outcome ?? 'run'}${r.noop ? ' (noop)' : ''}${r.trigger === 'event' ? ' (started by an event)' : ''} &middot; exit ${r.exitCode ?? '?'} &middot; ${s.changed ?? 0} changed, ${s.failed ?? 0} failed${s.pending ? `, ${s.pending} pending` : ''}</summary>
${r.agent?.enabled === false ? html`<p>Agent disabled${r.agent.disabledBy ? html` by ${r.agent.disabledBy}` : ''}${r.agent.disabledSince ? html` since ${r.agent.disabledSince}` : ''}: <strong class="reason">${r.agent.disabledReason ?? 'no reason given'}</strong></p>` : ''}
${r.cachedCatalogue ? html`<p class="warn">Ran the cached (last-known-good) catalogue: the fresh one failed.</p>` : ''}
${r.catalogueError ? html`<div>Catalogue: ${errorText(r.catalogueError)}</div>` : ''}
${r.error && r.error !== r.catalogueError ? html`<div>Run: ${errorText(r.error)}</div>` : ''}
${
  notable.length
    ? html`<div class="table-wrap"><table class="resources"><caption>Resources changed, pending, failed or skipped in this run</caption>
<thead><tr><th scope="col">Resource</th><th scope="col">Status</th><th scope="col">Cause</th><th scope="col">Attribute changes</th><th scope="col">Error</th></tr></thead>
<tbody>${notable.map((x) => html`<tr class="r-${x.status ?? ''}"><th scope="row"><code>${x.id ?? ''}</code></th><td>${statusBadge(x.status ?? '')}${x.action ? html` <span class="action">${x.action}</span>` : ''}</td><td>${causeOf(x) || html`<span class="none">none: no change made</span>`}${x.drift ? html`<div class="drift">${x.drift}</div>` : ''}${seenText(x, r.noop === true)}</td><td>${changeList(x.changes)}</td><td>${errorText(x.error)}</td></tr>`)}</tbody></table></div>`
    : html`<p>No resource changed or failed.</p>`
}
</details>`;
}

function factRows(facts: unknown, prefix = '', out: [string, string][] = [], depth = 0): [string, string][] {
  if (out.length >= 500) return out;
  if (facts !== null && typeof facts === 'object' && !Array.isArray(facts) && depth < 6) {
    for (const [k, v] of Object.entries(facts as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      factRows(v, prefix ? `${prefix}.${k}` : k, out, depth + 1);
  } else out.push([prefix || '(value)', clip(typeof facts === 'string' ? facts : (JSON.stringify(facts) ?? String(facts)), 300)]);
  return out;
}

const bytes = (n: number | undefined): string =>
  n === undefined
    ? ''
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MiB`
        : `${(n / 1024 ** 3).toFixed(2)} GiB`;

/** Backup freshness per volume, from the newest run that read its backup.volume resources. */
function backupSection(runs: readonly { rep: RunReport; at: string }[], nowMs: number): Html {
  const run = runs.find(({ rep }) => (rep.resources ?? []).some((r) => r.kind === 'backup.volume'));
  if (!run) return html``;
  const rows = (run.rep.resources ?? [])
    .filter((r) => r.kind === 'backup.volume')
    .flatMap((r): { r: ResourceEntry; b?: BackupEntry }[] => (r.details?.backups?.length ? r.details.backups.map((b) => ({ r, b })) : [{ r }]));
  return html`<h2 id="backups-h">Backups</h2>
<div class="table-wrap"><table class="backups" aria-labelledby="backups-h"><caption>Volume backups as the run of ${time(run.rep.startedAt ?? run.at)} found them</caption>
<thead><tr><th scope="col">Volume</th><th scope="col">Backup</th><th scope="col">State</th><th scope="col">Last success</th><th scope="col">Every</th><th scope="col">Snapshots</th><th scope="col">Size</th><th scope="col">Duration</th></tr></thead>
<tbody>${rows.map(
    ({ r, b }) => html`<tr data-volume="${b?.volume ?? ''}"><th scope="row">${b?.volume ?? ''}</th><td><code>${r.name ?? r.id ?? ''}</code></td>
<td>${r.status === 'failed' ? html`${statusBadge('failed')}${errorText(r.error)}` : b?.overdue ? html`<span class="status s-backup-overdue">overdue</span>` : html`<span class="status s-backup-fresh">fresh</span>`}</td>
<td>${b ? html`${time(b.lastSuccess)} <span class="age">${age(b.lastSuccess ?? undefined, nowMs)}</span>` : ''}</td><td>${b?.every ?? ''}</td><td>${b?.snapshots ?? ''}</td><td>${bytes(b?.sizeBytes)}</td><td>${b?.durationSeconds !== undefined ? `${b.durationSeconds} s` : ''}</td></tr>`,
  )}</tbody></table></div>`;
}

export function nodePage(d: NodeDetail, nowMs = Date.now()): string {
  const n = d.node;
  const runs = d.reports.map((r) => ({ rep: (r.report ?? {}) as RunReport, at: r.receivedAt }));
  const chart: ChartRun[] = runs
    .slice()
    .reverse()
    .map(({ rep, at }) => ({
      at: rep.startedAt ?? at,
      durationMs: rep.durationMs ?? 0,
      changed: rep.summary?.changed ?? 0,
      failed: (rep.summary?.failed ?? 0) + (rep.summary?.skipped ?? 0),
    }));
  return layout(
    n.node,
    html`<p class="crumbs"><a href="/">Fleet overview</a> &rsaquo; ${n.node}</p>
<h1 class="host">${n.node}</h1>
<dl class="facts-head">
<dt>Status</dt><dd>${statusBadge(n.status, n.disabledReason)}${n.cachedCatalogue ? html` <span class="status s-cached">cached catalogue</span>` : ''}</dd>
<dt>Environment</dt><dd>${n.environment ?? 'unknown'}</dd>
<dt>Role</dt><dd>${n.role ?? 'unknown'}${n.modules?.length ? html` (modules: ${n.modules.join(', ')})` : ''}</dd>
<dt>Last run</dt><dd>${time(n.lastReportAt)} <span class="age">${age(n.lastReportAt, nowMs)}</span></dd>
<dt>Last seen</dt><dd>${time(n.lastSeenAt)}</dd>
<dt>Code version</dt><dd><code>${n.codeVersion ?? ''}</code></dd>
<dt>Catalogue digest</dt><dd><code>${n.catalogueDigest ?? ''}</code></dd>
</dl>
${backupSection(runs, nowMs)}
${d.invalidReports ? html`<p class="warn">${d.invalidReports} stored report(s) of this node are not shown: they do not match the report schema (spec/wire/report.schema.json).</p>` : ''}
${
  runs.length
    ? html`<h2>Changed and failed resources, run by run</h2>
${runs.slice(0, 10).map(({ rep, at }, i) => runSection(rep, at, i))}`
    : ''
}
<h2>Runs over time</h2>
${renderRunChart(chart)}
<h2>Last runs</h2>
${
  runs.length
    ? html`<div class="table-wrap"><table class="runs"><caption>${runs.length === 1 ? 'The only run reported' : `The newest ${runs.length} runs`}</caption>
<thead><tr><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Outcome</th><th scope="col">Catalogue digest</th><th scope="col">Changed</th><th scope="col">Intentional / corrective</th><th scope="col">Failed</th><th scope="col">Pending</th><th scope="col">Unchanged</th><th scope="col">Exit</th></tr></thead>
<tbody>${runs.map(({ rep, at }) => html`<tr><th scope="row">${time(rep.startedAt ?? at)}</th><td>${((rep.durationMs ?? 0) / 1000).toFixed(2)} s</td><td>${rep.outcome ?? 'run'}${rep.noop ? ' (noop)' : ''}${rep.cachedCatalogue ? ' (cached catalogue)' : ''}</td><td><code title="${rep.catalogueDigest ?? ''}">${short(rep.catalogueDigest)}</code></td><td>${rep.summary?.changed ?? 0}</td><td>${rep.changes?.intentional ?? 0} / ${rep.changes?.corrective ?? 0}</td><td>${(rep.summary?.failed ?? 0) + (rep.summary?.skipped ?? 0)}</td><td>${rep.summary?.pending ?? 0}</td><td>${rep.summary?.unchanged ?? 0}</td><td>${rep.exitCode ?? ''}</td></tr>`)}</tbody></table></div>`
    : html`<p>No runs reported yet.</p>`
}
<h2>Facts</h2>
${d.facts ? html`<details class="facts"><summary>${factRows(d.facts.facts).length} facts, sent ${time(d.facts.at)}</summary><table class="facts"><caption>Facts the agent sent</caption><thead><tr><th scope="col">Fact</th><th scope="col">Value</th></tr></thead><tbody>${factRows(d.facts.facts).map(([k, v]) => html`<tr><th scope="row"><code>${k}</code></th><td>${v}</td></tr>`)}</tbody></table></details>` : html`<p>No facts received.</p>`}`,
    { loggedIn: true, current: 'hosts' },
  );
}
