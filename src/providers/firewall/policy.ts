/**
 * Kind `firewall.policy`: the default stance for what no firewall.rule decided, for a
 * Docker network or for `outside` (spec/kinds/firewall.policy.json; docs/firewall.md).
 * Its lines carry the comment tsc:p:<name> and sit after every rule. A policy requires
 * its network and every firewall.rule of the catalogue, so the rules that allow traffic
 * are in place before a drop closes the rest. The plan warns when a drop cuts a
 * published port that no rule accepts.
 */
import type Docker from 'dockerode';

import type { Provider, ProviderContext, Resource } from '../types.js';
import {
  firewallUnsuitable,
  firewallViews,
  observe,
  readHost,
  readTables,
  reportForeign,
  writeGroup,
  type FirewallObserved,
  type HostView,
} from './backend.js';
import { policyTag } from './iptables.js';
import { policyWords, renderPolicy, ruleProto, type PolicyAttrs, type Rendered, type RuleAttrs } from './render.js';

export type { PolicyAttrs };

function portCovered(ports: RuleAttrs['ports'], port: number): boolean {
  if (!ports) return true;
  return ports.some((p) => {
    const [a, b] = String(p).split('-').map(Number) as [number, number | undefined];
    return port >= a && port <= (b ?? a);
  });
}

/** Published ports a drop policy cuts that no accept rule of the catalogue lets through. */
export function cutPorts(name: string, host: HostView, rules: readonly Resource<RuleAttrs>[]): string[] {
  const out: string[] = [];
  for (const c of host.containers) {
    const cname = (c.Names?.[0] ?? '').replace(/^\//, '');
    const nets = Object.keys(c.NetworkSettings?.Networks ?? {});
    if (name !== 'outside' && !nets.includes(name)) continue;
    for (const p of c.Ports ?? []) {
      if (p.PublicPort === undefined) continue;
      const allowed = rules.some((r) => {
        const a = r.attrs;
        if ((a.action ?? 'accept') !== 'accept' || (a.ensure ?? 'present') === 'absent' || a.to === 'outside') return false;
        if (name === 'outside' && a.from !== 'outside' && a.from.cidr === undefined) return false;
        const to = a.to;
        if (to.container !== cname && !(to.network !== undefined && nets.includes(to.network)) && to.cidr === undefined) return false;
        const proto = ruleProto(a);
        return (proto === 'all' || proto === p.Type) && portCovered(a.ports, p.PublicPort!);
      });
      if (!allowed) out.push(`${p.PublicPort}/${p.Type} of container ${cname} (-> ${p.PrivatePort})`);
    }
  }
  return [...new Set(out)].sort();
}

export function createFirewallPolicyProvider(docker: Docker): Provider<PolicyAttrs, FirewallObserved> {
  const rendered = new Map<string, Rendered>();
  const said = new Set<string>();
  /** The catalogue's rules, as autoRequire sees them: what the published-port warning checks. */
  let rules: Resource<RuleAttrs>[] = [];
  const absent = (r: Resource<PolicyAttrs>): boolean => (r.attrs.ensure ?? 'present') === 'absent';
  const mineOf =
    (name: string) =>
    (group: string): boolean =>
      group === policyTag(name);
  const warnCuts = (r: Resource<PolicyAttrs>, host: HostView, ctx: ProviderContext): void => {
    if (absent(r) || r.attrs.default !== 'drop') return;
    const cut = cutPorts(r.name, host, rules);
    const key = `${r.id}:${cut.join(',')}`;
    if (cut.length === 0 || said.has(key)) return;
    said.add(key);
    ctx.log.warn(`${r.id}: drop cuts published port${cut.length > 1 ? 's' : ''} ${cut.join(', ')}, which no firewall.rule accepts`);
  };
  return {
    kind: 'firewall.policy',
    suitable: (ctx) => firewallUnsuitable(docker, ctx),
    async readMany(resources, ctx) {
      const [host, tables] = await Promise.all([readHost(docker), readTables(ctx.exec, ctx.signal)]);
      reportForeign(tables, ctx);
      const out = new Map<string, FirewallObserved | null>();
      for (const r of resources) {
        const want = renderPolicy(r.name, r.attrs, host.resolution);
        rendered.set(r.id, want);
        warnCuts(r, host, ctx);
        out.set(r.id, observe(tables, mineOf(r.name), absent(r) || want.v4.length + want.v6.length > 0 || want.unresolved.length > 0, host.resolution.bridges));
      }
      return out;
    },
    views(r, observed) {
      const want = rendered.get(r.id) ?? { v4: [], v6: [], unresolved: ['not read yet'] };
      return firewallViews(policyWords(r.name, r.attrs), want, observed, absent(r));
    },
    async apply(r, plan, _observed, ctx) {
      const want = plan.action === 'delete' || absent(r) ? null : (rendered.get(r.id) ?? null);
      const { bridges } = (await readHost(docker)).resolution;
      await writeGroup(ctx, r.id, policyTag(r.name), mineOf(r.name), want, bridges);
      const tables = await readTables(ctx.exec, ctx.signal);
      return observe(tables, mineOf(r.name), want === null || want.v4.length + want.v6.length > 0, bridges);
    },
    autoRequire(r, all) {
      rules = all.filter((x): x is Resource<RuleAttrs> => x.kind === 'firewall.rule').map((x) => x as unknown as Resource<RuleAttrs>);
      return [...(r.name === 'outside' || r.name === 'bridge' ? [] : [`docker.network[${r.name}]`]), ...rules.map((x) => x.id)];
    },
  };
}
