/**
 * What the two firewall kinds share: whether they can run here (the engine's firewall
 * backend, the iptables tools), what the names of a rule are now (containers' addresses,
 * networks' bridges), reading and writing one resource's group of lines, and the
 * per-rule counters `tsconverge facts` and the agent's metrics show.
 */
import { access } from 'node:fs/promises';
import type Docker from 'dockerode';
import { TsconvergeError } from '../../core/errors.js';
import type { ProcessRunner } from '../../core/exec.js';
import { defaultDockerSocket, readDockerFirewallBackend } from '../../facts/facts.js';
import { dockerUnsuitable } from '../docker/client.js';
import { unsuitable, type Json, type ProviderContext, type Unsuitable, type View } from '../types.js';
import {
  BASE_TAG,
  FAMILIES,
  baseLines,
  countersOf,
  foreignHookLines,
  groupLines,
  groupOf,
  normalOrder,
  restoreTable,
  restoreText,
  saveTable,
  serialised,
  type Family,
  type SavedTable,
} from './iptables.js';
import type { Rendered, Resolution } from './render.js';

/** What one firewall resource is in the tables: its lines per family and whether the chain is hooked there. */
export interface FirewallObserved {
  readonly lines: Readonly<Record<Family, readonly string[]>>;
  readonly hooked: Readonly<Record<Family, boolean>>;
}

export async function firewallUnsuitable(docker: Docker, ctx: ProviderContext): Promise<Unsuitable | undefined> {
  const engine = await dockerUnsuitable(docker);
  if (engine) return engine;
  const host = process.env.DOCKER_HOST;
  if (!host || host.startsWith('unix://')) {
    const backend = await readDockerFirewallBackend(defaultDockerSocket());
    if (backend !== null && backend.includes('nftables')) {
      return unsuitable(
        `the Docker engine uses the ${backend} firewall backend; tsconverge's firewall kinds write iptables rules (a chain jumped from DOCKER-USER) and have no nftables backend yet. ` +
          'Start dockerd with "firewall-backend": "iptables" (docker.daemon), or leave the firewall kinds out of this host\'s catalogue',
      );
    }
  }
  for (const tool of ['iptables-save', 'iptables-restore']) {
    const out = await ctx.exec.run(tool, ['--version'], { timeoutMs: 10_000 }).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
    if (out.code !== 0)
      return unsuitable(
        `${tool} cannot run (${out.stderr.trim() || `exit ${out.code}`}); the firewall kinds need the iptables package (Debian: apt-get install iptables)`,
      );
  }
  return undefined;
}

interface ContainerSummary {
  Names?: string[];
  State?: string;
  Ports?: { PrivatePort: number; PublicPort?: number; Type: string }[];
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> };
}
interface NetworkSummary {
  Name: string;
  Id: string;
  Driver: string;
  Options?: Record<string, string>;
}

export interface HostView {
  readonly resolution: Resolution;
  readonly containers: readonly ContainerSummary[];
}

/** Read once per call: the engine's containers and networks, and whether LOG can reach a log here. */
export async function readHost(docker: Docker): Promise<HostView> {
  const [containers, networks, nflog] = await Promise.all([
    docker.listContainers({ all: true }) as unknown as Promise<ContainerSummary[]>,
    docker.listNetworks() as unknown as Promise<NetworkSummary[]>,
    inNetworkNamespace(),
  ]);
  const byName = new Map<string, { v4: string[]; v6: string[] } | null>();
  for (const c of containers) {
    const name = (c.Names?.[0] ?? '').replace(/^\//, '');
    const nets = Object.values(c.NetworkSettings?.Networks ?? {});
    const v4 = nets
      .map((n) => n.IPAddress ?? '')
      .filter(Boolean)
      .sort();
    const v6 = nets
      .map((n) => n.GlobalIPv6Address ?? '')
      .filter(Boolean)
      .sort();
    byName.set(name, c.State === 'running' && v4.length + v6.length > 0 ? { v4, v6 } : null);
  }
  const bridgeOf = (n: NetworkSummary): string | null =>
    n.Driver === 'bridge' ? (n.Options?.['com.docker.network.bridge.name'] ?? `br-${n.Id.slice(0, 12)}`) : null;
  const nets = new Map(networks.map((n) => [n.Name, bridgeOf(n)]));
  const bridges = [...new Set(networks.map(bridgeOf).filter((b): b is string => b !== null))].sort();
  return { resolution: { containers: byName, networks: nets, bridges, nflog }, containers };
}

/**
 * True when LOG cannot reach a log here: the kernel writes LOG lines only from the initial
 * network namespace (or with net.netfilter.nf_log_all_netns=1), and that key exists only
 * in the initial namespace, so its absence says this is another one: NFLOG instead.
 */
async function inNetworkNamespace(): Promise<boolean> {
  try {
    await access('/proc/sys/net/netfilter/nf_log_all_netns');
    return false;
  } catch {
    return true;
  }
}

export async function readTables(exec: ProcessRunner, signal?: AbortSignal): Promise<Record<Family, SavedTable>> {
  const [v4, v6] = await Promise.all(FAMILIES.map((f) => saveTable(exec, f, signal)));
  return { v4: v4!, v6: v6! };
}

/** One resource's observed lines; null when it has none and that means absent (it should have some, or it is declared absent). */
export function observe(
  tables: Record<Family, SavedTable>,
  mine: (group: string) => boolean,
  emptyIsAbsent: boolean,
  bridges: readonly string[],
): FirewallObserved | null {
  const lines = { v4: groupLines(tables.v4, mine), v6: groupLines(tables.v6, mine) };
  if (emptyIsAbsent && lines.v4.length + lines.v6.length === 0) return null;
  // Hooked: the jump is there, and the lines that sort packets know every bridge of now.
  const hooked = (f: Family): boolean =>
    tables[f].hooked && groupLines(tables[f], (g) => g === BASE_TAG).join('\n') === normalOrder(baseLines(f, bridges)).join('\n');
  return { lines, hooked: { v4: hooked('v4'), v6: hooked('v6') } };
}

/**
 * The comparable form: the rule in words; per family its lines (ipv4, ipv6: a list, so the
 * plan shows lines that left and came); and for the families with lines, whether the
 * chain is hooked (the jump from DOCKER-USER, and TSC-FW's sorting lines up to date).
 */
export function firewallViews(words: string, rendered: Rendered, observed: FirewallObserved | null, absent: boolean): { desired: View; actual: View | null } {
  if (absent) return { desired: {}, actual: observed === null ? null : linesView(observed.lines) };
  const desired: Record<string, Json> = { rule: words, ...linesView(rendered) };
  const families = FAMILIES.filter((f) => rendered[f].length > 0);
  if (families.length > 0) desired.hooked = Object.fromEntries(families.map((f) => [NAMES[f], true]));
  if (rendered.unresolved.length > 0) desired.unresolved = [...rendered.unresolved];
  if (observed === null) return { desired, actual: null };
  const actual: Record<string, Json> = { rule: words, ...linesView(observed.lines) };
  if (families.length > 0) actual.hooked = Object.fromEntries(families.map((f) => [NAMES[f], observed.hooked[f]]));
  return { desired, actual };
}

const NAMES: Record<Family, string> = { v4: 'ipv4', v6: 'ipv6' };
function linesView(lines: Readonly<Record<Family, readonly string[]>>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const f of FAMILIES) if (lines[f].length > 0) out[NAMES[f]] = [...lines[f]];
  return out;
}

/** Replace one resource's lines in both families, one transaction per family, one apply at a time. */
export function writeGroup(
  ctx: ProviderContext,
  id: string,
  group: string,
  mine: (group: string) => boolean,
  rendered: Rendered | null,
  bridges: readonly string[],
): Promise<void> {
  if (rendered && rendered.unresolved.length > 0) {
    throw new TsconvergeError('FIREWALL_UNRESOLVED', `${id} cannot be applied: ${rendered.unresolved.join('; ')}`, {
      resource: id,
      hint: 'a rule names containers and networks by name and applies their current addresses; start the container (or declare it, so the rule requires it) and run again',
    });
  }
  return serialised(async () => {
    for (const f of FAMILIES) {
      const table = await saveTable(ctx.exec, f, ctx.signal);
      const text = restoreText(table, group, mine, rendered ? rendered[f] : [], f, bridges);
      if (text !== null) await restoreTable(ctx.exec, f, text, ctx.signal);
    }
  });
}

/** What was said about foreign lines, per run's logger (both kinds read the same table). */
const foreignSaid = new WeakMap<object, Set<string>>();

/** Lines tsconverge did not write in DOCKER-USER, said once per run in the plan: they stay as they are. */
export function reportForeign(tables: Record<Family, SavedTable>, ctx: ProviderContext): void {
  let said = foreignSaid.get(ctx.log);
  if (!said) {
    said = new Set();
    foreignSaid.set(ctx.log, said);
  }
  for (const f of FAMILIES) {
    const foreign = foreignHookLines(tables[f]);
    const key = `${f}:${foreign.join('\n')}`;
    if (foreign.length === 0 || said.has(key)) continue;
    said.add(key);
    ctx.log.warn(
      `firewall: DOCKER-USER (${f === 'v4' ? 'iptables' : 'ip6tables'}) holds ${foreign.length} unmanaged line(s), left as they are: ${foreign.join(' | ')}`,
    );
  }
}

/** Per firewall resource: packets and bytes of the lines that decided (both families summed). */
export interface FirewallCounter {
  readonly kind: 'firewall.rule' | 'firewall.policy';
  readonly name: string;
  readonly packets: number;
  readonly bytes: number;
}

export async function readFirewallCounters(exec: ProcessRunner): Promise<FirewallCounter[]> {
  const t = await readTables(exec);
  const out: FirewallCounter[] = [];
  for (const [group, c] of countersOf([t.v4, t.v6])) {
    const m = /^tsc:(r:\d{5}|p):(.+)$/.exec(group);
    if (m) out.push({ kind: m[1] === 'p' ? 'firewall.policy' : 'firewall.rule', name: m[2]!, ...c });
  }
  return out.sort((a, b) => (a.kind + a.name < b.kind + b.name ? -1 : 1));
}

export { groupOf };
