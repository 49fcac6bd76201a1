/**
 * Pure rendering of firewall.rule and firewall.policy into iptables lines (in the form
 * iptables-save prints), and into words for the plan (`allow web -> db tcp/5432`).
 * What names resolve to (a container's current addresses, a network's bridge, the list of
 * Docker bridges that defines `outside`) is read by the providers and passed in.
 */
import { isIP } from 'node:net';
import type { FirewallPolicy, FirewallRule } from '../../generated/kinds.js';
import { NFLOG_GROUP, PAIRS, pairChain, policyTag, ruleTag, type Family, type Pair } from './iptables.js';

export type RuleAttrs = Omit<FirewallRule, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export type PolicyAttrs = Omit<FirewallPolicy, 'kind' | 'name' | 'require' | 'before' | 'notify' | 'subscribe'>;
export type End = RuleAttrs['from'];

/** What the names of the catalogue are on this host now. */
export interface Resolution {
  /** Container name -> its addresses (null: not there or not running). */
  readonly containers: ReadonlyMap<string, { readonly v4: readonly string[]; readonly v6: readonly string[] } | null>;
  /** Network name -> its bridge interface (null: not there, or not a bridge). */
  readonly networks: ReadonlyMap<string, string | null>;
  /** Every Docker bridge of this host, sorted: what `outside` is not. */
  readonly bridges: readonly string[];
  /** Log with NFLOG (inside a network namespace, where LOG writes nothing) instead of LOG. */
  readonly nflog: boolean;
}

export interface Rendered {
  readonly v4: readonly string[];
  readonly v6: readonly string[];
  /** Names that could not be resolved (a container not running): the rule cannot be applied yet. */
  readonly unresolved: readonly string[];
}

const endWords = (e: End): string => (e === 'outside' ? 'outside' : (e.container ?? (e.network !== undefined ? `network ${e.network}` : e.cidr!)));

export function ruleProto(a: RuleAttrs): 'tcp' | 'udp' | 'icmp' | 'all' {
  return a.proto ?? (a.ports ? 'tcp' : 'all');
}

/** `allow web -> db tcp/5432`, `drop outside -> db`, `reject api -> outside udp/53,6000-6010 (logged)`. */
export function ruleWords(a: RuleAttrs): string {
  const verb = { accept: 'allow', drop: 'drop', reject: 'reject' }[a.action ?? 'accept'];
  const proto = ruleProto(a);
  const what = proto === 'all' ? '' : a.ports ? ` ${proto}/${a.ports.join(',')}` : ` ${proto}`;
  const fam = a.family && a.family !== 'both' ? ` (${a.family} only)` : '';
  return `${verb} ${endWords(a.from)} -> ${endWords(a.to)}${what}${fam}${a.log ? ' (logged)' : ''}`;
}

export function policyWords(name: string, a: PolicyAttrs): string {
  const scope = name === 'outside' ? 'from outside to containers' : `in and out of network ${name}`;
  return `${a.default === 'drop' ? 'drop' : 'accept'} what no rule decides ${scope}${a.log && a.default === 'drop' ? ' (logged)' : ''}`;
}

/** An address range as iptables prints it: the network address, /prefix; IPv6 compressed. */
export function normaliseCidr(cidr: string): { text: string; family: Family } {
  const [addr, len] = cidr.split('/') as [string, string | undefined];
  const v = isIP(addr);
  const bits = v === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  const value = v === 4 ? addr.split('.').reduce((n, o) => (n << 8n) + BigInt(Number(o)), 0n) : parseV6(addr);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  const net = value & mask;
  if (v === 4) return { text: `${[24n, 16n, 8n, 0n].map((s) => String((net >> s) & 255n)).join('.')}/${prefix}`, family: 'v4' };
  const groups = Array.from({ length: 8 }, (_, i) => ((net >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
  return { text: `${new URL(`http://[${groups}]`).hostname.slice(1, -1)}/${prefix}`, family: 'v6' };
}

function parseV6(addr: string): bigint {
  const full = new URL(`http://[${addr}]`).hostname.slice(1, -1);
  const [head, tail] = full.includes('::') ? (full.split('::') as [string, string]) : [full, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

/** One side of a rule, in a family: its match, and the classes (I: a Docker bridge, O: not) it can be in; null when it has nothing in this family. */
interface Side {
  readonly match: string;
  readonly classes: readonly ('I' | 'O')[];
}

function sides(e: End, family: Family, res: Resolution, unresolved: string[], dir: 'src' | 'dst'): Side[] | null {
  if (e === 'outside') return [{ match: '', classes: ['O'] }];
  if (e.container !== undefined) {
    const c = res.containers.get(e.container);
    if (!c) {
      unresolved.push(`container ${e.container} has no address (not created or not running)`);
      return null;
    }
    const list = family === 'v4' ? c.v4 : c.v6;
    if (list.length === 0) return null;
    return list.map((a) => ({ match: `${dir === 'src' ? '-s' : '-d'} ${a}/${family === 'v4' ? 32 : 128}`, classes: ['I'] }));
  }
  if (e.network !== undefined) {
    const br = res.networks.get(e.network);
    if (!br) {
      unresolved.push(`network ${e.network} has no bridge (not created, or not a bridge network)`);
      return null;
    }
    return [{ match: `${dir === 'src' ? '-i' : '-o'} ${br}`, classes: ['I'] }];
  }
  const c = normaliseCidr(e.cidr!);
  return c.family === family ? [{ match: `${dir === 'src' ? '-s' : '-d'} ${c.text}`, classes: ['I', 'O'] }] : null;
}

const RATE: Record<string, string> = { second: 'sec', minute: 'min', hour: 'hour', day: 'day' };
const limitOf = (rate: string | undefined): string => {
  const [n, u] = (rate ?? '5/minute').split('/') as [string, string];
  return `-m limit --limit ${n}/${RATE[u]}`;
};
const logTarget = (prefix: string, res: Resolution): string =>
  res.nflog ? `-j NFLOG --nflog-prefix "${prefix}" --nflog-group ${NFLOG_GROUP}` : `-j LOG --log-prefix "${prefix}"`;
const verdict = (action: string, family: Family): string =>
  action === 'accept'
    ? '-j RETURN'
    : action === 'drop'
      ? '-j DROP'
      : `-j REJECT --reject-with ${family === 'v4' ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`;

function protoMatches(a: RuleAttrs, family: Family): string[] {
  const proto = ruleProto(a);
  if (proto === 'all') return [''];
  const p = proto === 'icmp' && family === 'v6' ? 'ipv6-icmp' : proto;
  if (!a.ports || proto === 'icmp') return [`-p ${p}`];
  return a.ports.map((port) => `-p ${p} -m conntrack --ctorigdstport ${String(port).replace('-', ':')}`);
}

const join = (...parts: string[]): string => parts.filter(Boolean).join(' ');

/** iptables-save prints -s, -d, -i, -o in that order, whatever order they were given in. */
function addressing(src: string, dst: string): string {
  const parts = [src, dst].filter(Boolean);
  const rank = (m: string): number => ['-s', '-d', '-i', '-o'].indexOf(m.split(' ')[0]!);
  return parts.sort((x, y) => rank(x) - rank(y)).join(' ');
}

export function renderRule(name: string, a: RuleAttrs, res: Resolution): Rendered {
  const unresolved: string[] = [];
  const out: Record<Family, string[]> = { v4: [], v6: [] };
  if ((a.ensure ?? 'present') === 'absent') return { v4: [], v6: [], unresolved };
  const tag = ruleTag(a.order ?? 1000, name);
  const c = `-m comment --comment "${tag}"`;
  const cv = `-m comment --comment "${tag}:v"`;
  const action = a.action ?? 'accept';
  const prefix = (a.logPrefix ?? `tsc ${action} ${name}: `).slice(0, 29);
  for (const family of ['v4', 'v6'] as const) {
    if (a.family === 'ipv4' && family === 'v6') continue;
    if (a.family === 'ipv6' && family === 'v4') continue;
    const src = sides(a.from, family, res, unresolved, 'src');
    const dst = sides(a.to, family, res, unresolved, 'dst');
    if (!src || !dst) continue;
    for (const pair of PAIRS) {
      const chain = pairChain(pair);
      for (const s of src.filter((x) => x.classes.includes(pair[0] as 'I' | 'O'))) {
        for (const d of dst.filter((x) => x.classes.includes(pair[1] as 'I' | 'O'))) {
          for (const p of protoMatches(a, family)) {
            const head = join(`-A ${chain}`, addressing(s.match, d.match), p);
            if (a.log) out[family].push(join(head, c, limitOf(a.logRate), logTarget(prefix, res)));
            out[family].push(join(head, cv, verdict(action, family)));
          }
        }
      }
    }
  }
  return { ...out, unresolved: [...new Set(unresolved)] };
}

export function renderPolicy(name: string, a: PolicyAttrs, res: Resolution): Rendered {
  const unresolved: string[] = [];
  const out: Record<Family, string[]> = { v4: [], v6: [] };
  if ((a.ensure ?? 'present') === 'absent' || a.default !== 'drop') return { v4: [], v6: [], unresolved };
  const tag = policyTag(name);
  const c = `-m comment --comment "${tag}"`;
  const cv = `-m comment --comment "${tag}:v"`;
  const prefix = (a.logPrefix ?? `tsc policy ${name}: `).slice(0, 29);
  let where: [Pair, string][];
  if (name === 'outside') {
    where = [['OI', '']]; // from outside into any container
  } else {
    const br = res.networks.get(name);
    if (!br) {
      unresolved.push(`network ${name} has no bridge (not created, or not a bridge network)`);
      return { v4: [], v6: [], unresolved };
    }
    where = [
      ['II', `-i ${br}`],
      ['II', `-o ${br}`],
      ['IO', `-i ${br}`],
      ['OI', `-o ${br}`],
    ];
  }
  for (const family of ['v4', 'v6'] as const) {
    for (const [pair, match] of where) {
      const head = join(`-A ${pairChain(pair)}`, match);
      if (a.log) out[family].push(join(head, c, limitOf(a.logRate), logTarget(prefix, res)));
      out[family].push(join(head, cv, '-j DROP'));
    }
  }
  return { ...out, unresolved: [...new Set(unresolved)] };
}
