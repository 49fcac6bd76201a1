/**
 * Knock-on effects of what an import cannot carry over (issue 28): a static address that
 * is dropped (its service is not imported, its network is left for network_mode, or it
 * lies outside the one subnet per family a network declares) and the services that used
 * it (dns, extra_hosts, environment, command ...); a service's networks dropped for
 * network_mode and the services on them that reached it by name. Each is one warning at
 * the dropped item, naming every user with its file and line.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { listToMap, networksMap } from './compose-merge.js';

type Obj = Record<string, unknown>;
type Seg = string | number;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface KnockContext {
  readonly data: Obj;
  readonly included: ReadonlySet<string>;
  at(segs: Seg[], message: string): void;
  where(segs: Seg[]): string;
}

/** Every string of a service that can name another host, with its path: dns, extra_hosts, environment, command, entrypoint, healthcheck, labels. */
function strings(svc: string, s: Obj): { at: Seg[]; text: string }[] {
  const out: { at: Seg[]; text: string }[] = [];
  const walk = (v: unknown, at: Seg[]): void => {
    if (typeof v === 'string') out.push({ at, text: v });
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, i]));
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  for (const key of ['dns', 'extra_hosts', 'command', 'entrypoint', 'links', 'external_links']) walk(s[key], ['services', svc, key]);
  for (const [k, v] of Object.entries(listToMap(s.environment))) if (v !== null && v !== undefined) walk(String(v), ['services', svc, 'environment', k]);
  walk((s.healthcheck as Obj | undefined)?.test, ['services', svc, 'healthcheck', 'test']);
  return out;
}

function v6ToBig(a: string): bigint {
  const [head = '', tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const parts = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return parts.reduce((acc, p) => (acc << 16n) + BigInt(parseInt(p || '0', 16)), 0n);
}

/** Whether an address lies in a CIDR of its family. */
export function inSubnet(addr: string, cidr: string): boolean {
  const [net = '', bits = ''] = cidr.split('/');
  if (isIPv4(addr) && isIPv4(net)) {
    const n = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    const size = 2 ** (32 - Number(bits));
    return Math.floor(n(addr) / size) === Math.floor(n(net) / size);
  }
  if (isIPv6(addr) && isIPv6(net)) {
    const shift = BigInt(128 - Number(bits));
    return v6ToBig(addr) >> shift === v6ToBig(net) >> shift;
  }
  return false;
}

const mentions = (text: string, token: string): boolean => {
  const esc = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^A-Za-z0-9_.:-])${esc}($|[^A-Za-z0-9_-])`).test(text) || text === token;
};

/** The carried subnet of each family of a top-level network: the first of each, as networkResource declares. */
function carriedSubnets(n: Obj | undefined): { v4?: string; v6?: string; all: string[] } {
  const cfg = (((n?.ipam as Obj | undefined)?.config as Obj[] | undefined) ?? []).map((c) => String(c.subnet ?? '')).filter(Boolean);
  return { v4: cfg.find((c) => !c.includes(':')), v6: cfg.find((c) => c.includes(':')), all: cfg };
}

export function reportKnockOn(k: KnockContext): void {
  const services = (k.data.services ?? {}) as Obj;
  const topNets = (k.data.networks ?? {}) as Obj;
  const users = (pred: (text: string) => boolean, except: string): string[] => {
    const hits: string[] = [];
    for (const [svc, s] of Object.entries(services)) {
      if (svc === except || !k.included.has(svc) || !isObj(s)) continue;
      for (const { at, text } of strings(svc, s)) if (pred(text)) hits.push(`${at.join('.')} (${k.where(at)})`);
    }
    return hits;
  };

  for (const [svc, s] of Object.entries(services)) {
    if (!isObj(s)) continue;
    const nets = networksMap(s.networks);
    // Static addresses that are not carried over, and who used them.
    for (const [key, o] of Object.entries(nets)) {
      for (const field of ['ipv4_address', 'ipv6_address'] as const) {
        const addr = o?.[field];
        if (typeof addr !== 'string' || !addr) continue;
        const sub = carriedSubnets(topNets[key] as Obj | undefined);
        const family = field === 'ipv4_address' ? sub.v4 : sub.v6;
        const why = !k.included.has(svc)
          ? `service ${svc} is not in the import (its profile is not active)`
          : s.network_mode !== undefined
            ? `service ${svc} uses network_mode ${String(s.network_mode)}, so its networks are dropped`
            : family && !inSubnet(addr, family) && sub.all.some((c) => inSubnet(addr, c))
              ? `it lies in a second ${field === 'ipv4_address' ? 'IPv4' : 'IPv6'} subnet of network ${key}, which is dropped (only ${family} is declared)`
              : undefined;
        if (!why) continue;
        const used = users((t) => mentions(t, addr), svc);
        if (!k.included.has(svc) && used.length === 0) continue; // an inactive service that nobody uses: nothing to say
        k.at(
          ['services', svc, 'networks', key, field],
          `the address ${addr} is not carried over: ${why}. ${used.length ? `Knock-on: used by ${used.join(', ')}` : 'Nothing in the import refers to it'}`,
        );
      }
    }
    // A service whose networks are dropped for network_mode: who reached it by name on them.
    if (k.included.has(svc) && s.network_mode !== undefined && Object.keys(nets).length) {
      for (const [key, o] of Object.entries(nets)) {
        const names = [svc, ...((o?.aliases as unknown[] | undefined) ?? []).map(String)];
        const peers = Object.entries(services).filter(
          ([other, x]) =>
            other !== svc &&
            k.included.has(other) &&
            isObj(x) &&
            key in (Object.keys(networksMap(x.networks)).length ? networksMap(x.networks) : { default: null }),
        );
        const used: string[] = [];
        for (const [other, x] of peers)
          for (const { at, text } of strings(other, x as Obj)) if (names.some((n) => mentions(text, n))) used.push(`${at.join('.')} (${k.where(at)})`);
        if (used.length)
          k.at(
            ['services', svc, 'networks', key],
            `network ${key} is dropped for this service (network_mode ${String(s.network_mode)}): it is no longer reachable there as ${names.join(' or ')}. Knock-on: used by ${used.join(', ')}`,
          );
      }
    }
  }
  // Services of the import that name a service left out, in their dns or environment.
  for (const [svc, s] of Object.entries(services)) {
    if (k.included.has(svc) || !isObj(s)) continue;
    const used = users((t) => mentions(t, svc), svc).filter((u) => !u.startsWith('services.') || !u.includes('.depends_on.'));
    if (used.length)
      k.at(['services', svc], `service ${svc} is not in the import (its profile is not active). Knock-on: its name is used by ${used.join(', ')}`);
  }
}
