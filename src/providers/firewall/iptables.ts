/**
 * The iptables backend of the firewall kinds (firewall.rule, firewall.policy).
 *
 * tsconverge owns one chain per family, TSC-FW, jumped to from DOCKER-USER, Docker's
 * documented hook (ip6tables: from FORWARD when the engine keeps no DOCKER-USER there, as
 * Engine 20.10 without --ip6tables). TSC-FW sorts a packet by where it comes from and goes
 * to, a Docker bridge (I, inside) or not (O, outside), and goes (-g) to one of four chains,
 * TSC-FW-II, -IO, -OI, -OO, which hold the rules and policies for that pair. Because they
 * are reached by goto, a RETURN there (accept) goes back to DOCKER-USER and on to Docker's
 * own rules, and only drop and reject decide. Every line carries a comment naming what it
 * belongs to:
 *   tsc:base                   replies to allowed connections, IPv6 neighbour discovery
 *   tsc:r:<order>:<name>[:v]   a firewall.rule (":v" marks the line that decides: its counters)
 *   tsc:p:<name>[:v]           a firewall.policy
 * An apply reads the table (iptables-save -c), replaces the lines of one resource, and
 * writes its chains back in one transaction (iptables-restore -c --noflush:
 * declaring a chain flushes only that chain), keeping the counters of unchanged lines.
 * Docker's chains are never declared, flushed or edited; the one line written outside
 * TSC-FW is the jump, inserted first in DOCKER-USER when it is missing. Foreign lines in
 * DOCKER-USER are left where they are.
 *
 * Lines are rendered exactly as iptables-save prints them (the canonical form: comments
 * quoted, -s/-d/-i/-o/-p first, a limit's default burst left out), so a comparison of the
 * rendered lines with the saved ones is the drift check; test/integration/firewall.test.ts holds the
 * renderer to iptables' own output.
 */
import { TsconvergeError } from '../../core/errors.js';
import type { ProcessRunner } from '../../core/exec.js';

export type Family = 'v4' | 'v6';
export const FAMILIES: readonly Family[] = ['v4', 'v6'];
export const CHAIN = 'TSC-FW';
export const NFLOG_GROUP = 25;
const SAVE: Record<Family, string> = { v4: 'iptables-save', v6: 'ip6tables-save' };
const RESTORE: Record<Family, string> = { v4: 'iptables-restore', v6: 'ip6tables-restore' };

/** One saved line: its chain, its text without counters (`-A CHAIN ...`), its counters and owner tag. */
export interface SavedLine {
  readonly chain: string;
  readonly text: string;
  readonly packets: number;
  readonly bytes: number;
  /** The tsc: comment, or null for a foreign line. */
  readonly tag: string | null;
}

export interface SavedTable {
  /** False when the family has no filter table at all (ip6tables never used). */
  readonly exists: boolean;
  readonly chains: ReadonlySet<string>;
  readonly lines: readonly SavedLine[];
  /** DOCKER-USER when the engine keeps one in this family, else FORWARD for IPv6, else null. */
  readonly hookChain: string | null;
  /** The jump to TSC-FW is in the hook chain. */
  readonly hooked: boolean;
}

/** A resource's group of lines: tag without the ":v" suffix. */
export const groupOf = (tag: string): string => tag.replace(/:v$/, '');
export const ruleTag = (order: number, name: string): string => `tsc:r:${String(order).padStart(5, '0')}:${name}`;
export const policyTag = (name: string): string => `tsc:p:${name}`;
export const BASE_TAG = 'tsc:base';
/** The four chains of a pair of classes: inside (a Docker bridge) or outside, from and to. */
export type Pair = 'II' | 'IO' | 'OI' | 'OO';
export const PAIRS: readonly Pair[] = ['II', 'IO', 'OI', 'OO'];
export const pairChain = (p: Pair): string => `${CHAIN}-${p}`;
/** Every chain tsconverge writes: TSC-FW, its two sorting chains and the four pair chains. */
export const OWN_CHAINS: readonly string[] = [CHAIN, `${CHAIN}-I`, `${CHAIN}-O`, ...PAIRS.map(pairChain)];

export function parseSave(text: string, family: Family): SavedTable {
  const chains = new Set<string>();
  const lines: SavedLine[] = [];
  let inFilter = false;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('*')) {
      inFilter = raw === '*filter';
      continue;
    }
    if (!inFilter || raw.startsWith('#') || raw === 'COMMIT' || raw === '') continue;
    if (raw.startsWith(':')) {
      chains.add(raw.slice(1).split(' ')[0]!);
      continue;
    }
    const m = /^(?:\[(\d+):(\d+)\] )?(-A (\S+) .*)$/.exec(raw);
    if (!m) continue;
    const tag = /--comment "?(tsc:[^" ]+)"?/.exec(m[3]!)?.[1] ?? null;
    lines.push({ chain: m[4]!, text: m[3]!, packets: Number(m[1] ?? 0), bytes: Number(m[2] ?? 0), tag });
  }
  const hookChain = chains.has('DOCKER-USER') ? 'DOCKER-USER' : family === 'v6' ? 'FORWARD' : null;
  const hooked = hookChain !== null && lines.some((l) => l.chain === hookChain && l.text === `-A ${hookChain} -j ${CHAIN}`);
  return { exists: chains.size > 0, chains, lines, hookChain, hooked };
}

export async function saveTable(exec: ProcessRunner, family: Family, signal?: AbortSignal): Promise<SavedTable> {
  const out = await exec.run(SAVE[family], ['-c', '-t', 'filter'], { ...(signal ? { signal } : {}), timeoutMs: 30_000 });
  if (out.code !== 0) {
    // ip6tables-save of a family never used prints nothing and exits 0; a failure is real.
    throw new TsconvergeError('FIREWALL_BACKEND', `${SAVE[family]} failed (exit ${out.code}): ${out.stderr.trim()}`, {
      hint: 'tsconverge must run as root to read and write the firewall',
    });
  }
  return parseSave(out.stdout, family);
}

/** The lines of the groups `mine` selects, in a normal form: chain by chain, each in order. */
export function groupLines(table: SavedTable, mine: (group: string) => boolean): string[] {
  return normalOrder(table.lines.filter((l) => l.tag !== null && mine(groupOf(l.tag))).map((l) => l.text));
}

const chainOfText = (text: string): string => text.split(' ')[1]!;

/** Lines in the order a comparison uses: chain by chain (tsconverge's in their fixed order), each in order. */
export function normalOrder(texts: readonly string[]): string[] {
  const byChain = new Map<string, string[]>();
  for (const t of texts) {
    const c = chainOfText(t);
    byChain.set(c, [...(byChain.get(c) ?? []), t]);
  }
  const rank = (c: string): string => (OWN_CHAINS.includes(c) ? String(OWN_CHAINS.indexOf(c)).padStart(2, '0') : `z${c}`);
  const names = [...byChain.keys()].sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
  return names.flatMap((n) => byChain.get(n)!);
}

/**
 * The base lines: replies to accepted connections pass (and IPv6 neighbour discovery), then
 * the packet is sorted by its interfaces: from a bridge to TSC-FW-I, else TSC-FW-O; there,
 * to a bridge to the ...I pair chain, else the ...O one. Gotos all the way down.
 */
export function baseLines(family: Family, bridges: readonly string[]): string[] {
  const c = `-m comment --comment "${BASE_TAG}"`;
  const lines = [`-A ${CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED ${c} -j RETURN`];
  if (family === 'v6') for (const t of [133, 134, 135, 136, 137]) lines.push(`-A ${CHAIN} -p ipv6-icmp -m icmp6 --icmpv6-type ${t} ${c} -j RETURN`);
  for (const b of bridges) lines.push(`-A ${CHAIN} -i ${b} ${c} -g ${CHAIN}-I`);
  lines.push(`-A ${CHAIN} ${c} -g ${CHAIN}-O`);
  for (const from of ['I', 'O'] as const) {
    for (const b of bridges) lines.push(`-A ${CHAIN}-${from} -o ${b} ${c} -g ${pairChain(`${from}I`)}`);
    lines.push(`-A ${CHAIN}-${from} ${c} -g ${pairChain(`${from}O`)}`);
  }
  return lines;
}

/** Sort key of a group: base first, then rules by order and name, then policies by name. */
function groupRank(group: string): string {
  if (group === BASE_TAG) return '0';
  if (group.startsWith('tsc:r:')) return `1${group}`;
  return `2${group}`;
}

/**
 * The text iptables-restore gets to replace the lines of the groups `mine` selects (one
 * resource's: a rule whose order changed has its old group too) with `lines` as `group`,
 * keeping every other group as saved (with counters), or null when nothing is to be done
 * in this family (no lines before or after, nothing of tsconverge's there).
 */
export function restoreText(
  table: SavedTable,
  group: string,
  mine: (group: string) => boolean,
  lines: readonly string[],
  family: Family,
  bridges: readonly string[],
): string | null {
  const stale = (text: string): boolean => {
    const to = / -[jg] (TSC-FW\S*)/.exec(text)?.[1];
    return to !== undefined && !OWN_CHAINS.includes(to);
  };
  const others = table.lines.filter(
    (l) => l.tag !== null && !mine(groupOf(l.tag)) && groupOf(l.tag) !== BASE_TAG && OWN_CHAINS.includes(l.chain) && !stale(l.text),
  );
  if (lines.length === 0 && others.length === 0 && !table.lines.some((l) => l.tag !== null)) return null;
  if (table.hookChain === null) {
    throw new TsconvergeError(
      'FIREWALL_BACKEND',
      `the ${family === 'v4' ? 'iptables' : 'ip6tables'} filter table has no DOCKER-USER chain: Docker is not running with its iptables rules here`,
      {
        hint: 'start dockerd with iptables enabled (the default); tsconverge hooks its chain into DOCKER-USER, which Docker creates',
      },
    );
  }
  const counters = new Map<string, [number, number][]>();
  for (const l of table.lines) counters.set(l.text, [...(counters.get(l.text) ?? []), [l.packets, l.bytes]]);
  const withCounters = (text: string): string => {
    const c = counters.get(text)?.shift() ?? [0, 0];
    return `[${c[0]}:${c[1]}] ${text}`;
  };
  const groups = new Map<string, string[]>([[BASE_TAG, lines.length > 0 || others.length > 0 ? baseLines(family, bridges) : []]]);
  for (const l of others) groups.set(groupOf(l.tag!), [...(groups.get(groupOf(l.tag!)) ?? []), l.text]);
  groups.set(group, [...lines]);
  const ordered = [...groups.entries()].sort(([a], [b]) => (groupRank(a) < groupRank(b) ? -1 : groupRank(a) > groupRank(b) ? 1 : 0));
  const all = ordered.flatMap(([, ls]) => ls);
  const out = ['*filter', ...OWN_CHAINS.map((c) => `:${c} - [0:0]`)];
  for (const c of OWN_CHAINS) out.push(...all.filter((t) => chainOfText(t) === c).map(withCounters));
  // Chains of TSC-FW- that are not tsconverge's any more (an earlier layout) go.
  for (const c of [...table.chains].filter((c) => c.startsWith(`${CHAIN}-`) && !OWN_CHAINS.includes(c)).sort()) out.push(`-F ${c}`, `-X ${c}`);
  if (all.length === 0) {
    // Nothing of tsconverge's is left in this family: the jump and the chains go too.
    out.splice(1, out.length - 1);
    if (table.hooked) out.push(`-D ${table.hookChain} -j ${CHAIN}`);
    const mine = [...table.chains].filter((c) => c === CHAIN || c.startsWith(`${CHAIN}-`)).sort();
    for (const c of mine) out.push(`-F ${c}`);
    for (const c of mine) out.push(`-X ${c}`);
    if (out.length === 1) return null;
  } else if (!table.hooked) {
    out.push(`-I ${table.hookChain} 1 -j ${CHAIN}`);
  }
  out.push('COMMIT', '');
  return out.join('\n');
}

export async function restoreTable(exec: ProcessRunner, family: Family, text: string, signal?: AbortSignal): Promise<void> {
  // The text goes on stdin through a here-document of sh: the process runner has no stdin.
  const out = await exec.run('sh', ['-c', `exec ${RESTORE[family]} -w 10 -c --noflush <<'TSC_FW_EOF'\n${text}TSC_FW_EOF\n`], {
    ...(signal ? { signal } : {}),
    timeoutMs: 60_000,
  });
  if (out.code !== 0) {
    throw new TsconvergeError(
      'FIREWALL_BACKEND',
      `${RESTORE[family]} refused the new rule set (exit ${out.code}): ${out.stderr.trim()}; nothing was changed (one transaction)`,
      {
        hint: 'a kernel module the rule needs may be missing (xt_conntrack, xt_comment, xt_limit, xt_LOG, xt_NFLOG); run the plan to see the lines',
      },
    );
  }
}

/** One apply at a time in this process: every apply rewrites the whole chain from what it reads. */
let queue: Promise<unknown> = Promise.resolve();
export function serialised<T>(work: () => Promise<T>): Promise<T> {
  const next = queue.then(work, work);
  queue = next.catch(() => undefined);
  return next;
}

/** Per-group counters of the deciding lines (":v"), both families summed. */
export interface GroupCounters {
  readonly packets: number;
  readonly bytes: number;
}
export function countersOf(tables: readonly SavedTable[]): Map<string, GroupCounters> {
  const out = new Map<string, GroupCounters>();
  for (const t of tables) {
    for (const l of t.lines) {
      if (!l.tag?.endsWith(':v')) continue;
      const g = groupOf(l.tag);
      const prev = out.get(g) ?? { packets: 0, bytes: 0 };
      out.set(g, { packets: prev.packets + l.packets, bytes: prev.bytes + l.bytes });
    }
  }
  return out;
}

/** Lines of the hook chain tsconverge did not write (the jump and Docker's final RETURN left out). */
export function foreignHookLines(t: SavedTable): string[] {
  if (t.hookChain !== 'DOCKER-USER') return [];
  return t.lines
    .filter((l) => l.chain === 'DOCKER-USER' && l.text !== `-A DOCKER-USER -j ${CHAIN}` && l.text !== '-A DOCKER-USER -j RETURN')
    .map((l) => l.text);
}
