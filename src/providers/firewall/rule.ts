/**
 * Kind `firewall.rule`: one rule for forwarded traffic, its ends named by container,
 * network, CIDR or `outside` (spec/kinds/firewall.rule.json; docs/firewall.md). Its
 * lines in tsconverge's chain carry the comment tsc:r:<order>:<name>; the iptables
 * backend (iptables.ts) writes them. A rule requires the containers and networks it
 * names, so when one of them is created or replaced in a run, the rule is read and
 * planned again after it, with the new addresses, in the same run.
 */
import type Docker from 'dockerode';
import type { Provider, Resource } from '../types.js';
import { firewallUnsuitable, firewallViews, observe, readHost, readTables, reportForeign, writeGroup, type FirewallObserved } from './backend.js';
import { ruleTag } from './iptables.js';
import { renderRule, ruleWords, type Rendered, type RuleAttrs } from './render.js';

export type { RuleAttrs };

/** The groups of a rule, whatever its order: tsc:r:<5 digits>:<name>. */
const mineOf =
  (name: string) =>
  (group: string): boolean =>
    /^tsc:r:\d{5}:/.test(group) && group.slice('tsc:r:00000:'.length) === name;

export function createFirewallRuleProvider(docker: Docker): Provider<RuleAttrs, FirewallObserved> {
  /** What each rule renders to with the names as they were at its last read (views is pure; readMany reads). */
  const rendered = new Map<string, Rendered>();
  const absent = (r: Resource<RuleAttrs>): boolean => (r.attrs.ensure ?? 'present') === 'absent';
  return {
    kind: 'firewall.rule',
    suitable: (ctx) => firewallUnsuitable(docker, ctx),
    async readMany(resources, ctx) {
      const [host, tables] = await Promise.all([readHost(docker), readTables(ctx.exec, ctx.signal)]);
      reportForeign(tables, ctx);
      const out = new Map<string, FirewallObserved | null>();
      for (const r of resources) {
        const want = renderRule(r.name, r.attrs, host.resolution);
        rendered.set(r.id, want);
        out.set(r.id, observe(tables, mineOf(r.name), absent(r) || want.v4.length + want.v6.length > 0 || want.unresolved.length > 0, host.resolution.bridges));
      }
      return out;
    },
    views(r, observed) {
      const want = rendered.get(r.id) ?? { v4: [], v6: [], unresolved: ['not read yet'] };
      return firewallViews(ruleWords(r.attrs), want, observed, absent(r));
    },
    async apply(r, plan, _observed, ctx) {
      const want = plan.action === 'delete' || absent(r) ? null : (rendered.get(r.id) ?? null);
      const { bridges } = (await readHost(docker)).resolution;
      await writeGroup(ctx, r.id, ruleTag(r.attrs.order ?? 1000, r.name), mineOf(r.name), want, bridges);
      const tables = await readTables(ctx.exec, ctx.signal);
      return observe(tables, mineOf(r.name), want === null || want.v4.length + want.v6.length > 0, bridges);
    },
    autoRequire(r) {
      const ids: string[] = [];
      for (const end of [r.attrs.from, r.attrs.to]) {
        if (end === 'outside') continue;
        if (end.container !== undefined) ids.push(`docker.container[${end.container}]`);
        if (end.network !== undefined) ids.push(`docker.network[${end.network}]`);
      }
      return ids;
    },
  };
}
