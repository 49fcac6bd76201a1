/**
 * resolv.conf: parse the resolver directives tsconverge manages (nameserver, search,
 * options) and render a file where exactly the declared directives are replaced.
 * Lines tsconverge does not manage (comments, sortlist, a directive that is not
 * declared) are kept as they are.
 */

export interface ResolverSettings {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
}

/** The directives a dns resource declares; undefined means "not managed, keep what is there". */
export interface DeclaredResolver {
  readonly nameservers?: readonly string[];
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export const RESOLV_HEADER = '# Managed by tsconverge';

function words(line: string): string[] {
  return line
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
}

function isComment(line: string): boolean {
  const t = line.trim();
  return t.startsWith('#') || t.startsWith(';');
}

/**
 * Parse resolv.conf as the resolver reads it: every `nameserver` line counts, the last
 * `search` or `domain` line wins, `options` lines accumulate (a later option of the same
 * name overrides an earlier one).
 */
export function parseResolvConf(text: string): ResolverSettings {
  const nameservers: string[] = [];
  let search: string[] = [];
  const options = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (isComment(line)) continue;
    const [directive, ...rest] = words(line);
    if (directive === 'nameserver' && rest[0]) nameservers.push(rest[0]);
    else if (directive === 'search') search = rest;
    else if (directive === 'domain') search = rest.slice(0, 1);
    else if (directive === 'options') for (const o of rest) options.set(o.split(':')[0]!, o);
  }
  return { nameservers, search, options: [...options.values()] };
}

function ownedDirective(line: string, declared: DeclaredResolver): boolean {
  if (isComment(line)) return line.trim().startsWith(RESOLV_HEADER);
  const directive = words(line)[0];
  if (directive === 'nameserver') return declared.nameservers !== undefined;
  if (directive === 'search' || directive === 'domain') return declared.search !== undefined;
  if (directive === 'options') return declared.options !== undefined;
  return false;
}

/**
 * Render resolv.conf: the kept lines of `existing` first (in their order), then the
 * declared directives in the resolver's customary order (search, nameserver, options).
 * Directives that are not declared stay where they were.
 */
export function renderResolvConf(existing: string | null, declared: DeclaredResolver, owner: string): string {
  const managed = (['nameservers', 'search', 'options'] as const).filter((k) => declared[k] !== undefined);
  const header = `${RESOLV_HEADER} (${owner}): ${managed.map((k) => (k === 'nameservers' ? 'nameserver' : k)).join(', ')} lines. Other lines are kept.`;
  const kept = (existing ?? '')
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => !ownedDirective(l, declared));
  while (kept.length > 0 && kept[kept.length - 1]!.trim() === '') kept.pop();
  const out: string[] = [header, ...kept];
  if (declared.search !== undefined && declared.search.length > 0) out.push(`search ${declared.search.join(' ')}`);
  for (const ns of declared.nameservers ?? []) out.push(`nameserver ${ns}`);
  if (declared.options !== undefined && declared.options.length > 0) out.push(`options ${declared.options.join(' ')}`);
  return out.join('\n') + '\n';
}
