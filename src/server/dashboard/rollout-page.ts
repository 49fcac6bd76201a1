/**
 * The dashboard's rollout page (GET /rollout): the stable version, the current rollout with
 * its state and reason, each wave with its nodes (which version each is served, its status,
 * the code version of its last run) and the audit trail. Server-rendered; html.ts escapes
 * every value (node names and reasons come from agents' reports).
 */
import { html } from './html.js';
import { layout, short, slug, statusBadge, time } from './pages.js';
import type { RolloutStatus } from '../rollout.js';

const badge = (s: string): ReturnType<typeof html> => html`<span class="status s-${slug(s)}">${s}</span>`;

export function rolloutPage(s: RolloutStatus): string {
  const r = s.rollout;
  const head = html`<h1>Rollout</h1>
<p class="code">Stable code version (every node outside a rollout): <code title="${s.stable ?? ''}">${short(s.stable) || 'none'}</code></p>`;
  if (!r)
    return layout(
      'Rollout',
      html`${head}<p id="rollout-none">No rollout yet: the fleet tree has not changed since the server first served it, or it has no <code>rollout.yaml</code>.</p>`,
      { loggedIn: true, current: 'rollout' },
    );
  const waves = r.waves.map(
    (w) => html`<section class="wave" id="wave-${w.index}">
<h3>Wave ${w.index + 1}: ${w.name} ${badge(w.state)} <span class="hint">bake ${Math.round(w.bakeMs / 1000)} s, ${w.nodes.length} nodes</span></h3>
${
  w.nodes.length === 0
    ? html`<p class="none">no nodes</p>`
    : html`<table class="wave-nodes">
<thead><tr><th scope="col">Node</th><th scope="col">Served</th><th scope="col">Status</th><th scope="col">Code of its last run</th><th scope="col">Last run</th></tr></thead>
<tbody>${w.nodes.map(
        (n) => html`<tr data-node="${n.node}" data-serves="${n.serves}">
<th scope="row"><a href="/nodes/${encodeURIComponent(n.node)}">${n.node}</a></th>
<td>${badge(n.serves)}</td>
<td>${statusBadge(n.status)}</td>
<td><code title="${n.codeVersion ?? ''}">${short(n.codeVersion)}</code>${n.codeVersion === r.to ? ' (new)' : n.codeVersion === r.from ? ' (previous)' : ''}</td>
<td>${time(n.lastReportAt)}</td>
</tr>`,
      )}</tbody>
</table>`
}
</section>`,
  );
  const audit = s.audit
    .slice(0, 30)
    .map(
      (a) =>
        html`<tr><td>${time(a.at)}</td><td>${a.actor}</td><td>${a.action}</td><td>${a.rolloutId ?? ''}</td><td><code>${a.detail === undefined ? '' : JSON.stringify(a.detail)}</code></td></tr>`,
    );
  return layout(
    'Rollout',
    html`${head}
<h2>Rollout ${r.id}: <code title="${r.from}">${short(r.from)}</code> &rarr; <code title="${r.to}">${short(r.to)}</code> <span id="rollout-state">${badge(r.state)}</span></h2>
${r.reason ? html`<p class="${r.state === 'halted' || r.state === 'reverted' ? 'error' : 'hint'}" id="rollout-reason">${r.reason}</p>` : ''}
<p class="hint">Started ${time(r.startedAt)}; wave ${r.policy.waves[r.wave]?.name ?? ''} since ${time(r.waveStartedAt)}; on failure: ${r.policy.onFailure}. Operators: <code>tsconverge rollout promote | halt | revert --server URL</code>.</p>
${waves}
<h2>Audit trail</h2>
<table class="audit"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Rollout</th><th scope="col">Detail</th></tr></thead>
<tbody>${audit}</tbody></table>`,
    { loggedIn: true, current: 'rollout' },
  );
}
