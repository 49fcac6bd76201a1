/**
 * The push inventory (spec/inventory.schema.json): YAML read with positions, validated
 * against the schema, then resolved once into readonly hosts (defaults applied, paths
 * made absolute, groups checked). Later stages only see the resolved form. Bad input
 * is a ManifestErrors batch naming file, line, column and field, like a manifest.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { readAssetText } from '../core/assets.js';
import { createAjv, SPEC_DIR } from '../spec/schemas.js';
import { describeAjvError, usefulErrors } from '../catalogue/load.js';
import { readYamlTree, escapeSegment } from '../catalogue/yamltree.js';
import { ManifestErrors, TsconvergeError, type SourceLocation } from '../core/errors.js';
import type { Inventory } from '../generated/inventory.js';

export const DEFAULT_REMOTE_BIN = '/usr/local/bin/tsconverge';

export interface PushHost {
  /** The inventory's name for the host (output, --limit). */
  readonly name: string;
  /** The node its catalogue is compiled for. */
  readonly node: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Absolute path of the private key. */
  readonly key: string;
  readonly environment?: string;
  readonly root: string;
  readonly stateDir?: string;
  readonly tsconverge: string;
  readonly connectTimeoutMs: number;
  /** Where the host is declared (errors about it point there). */
  readonly source: SourceLocation;
}

export interface ResolvedInventory {
  readonly file: string;
  readonly knownHosts: string;
  readonly hosts: readonly PushHost[];
  readonly groups: ReadonlyMap<string, readonly string[]>;
}

let validator: ValidateFunction | undefined;
function validate(): ValidateFunction {
  // Compiled on first use: push is the only command that reads an inventory.
  validator ??= createAjv().compile(JSON.parse(readAssetText('spec/inventory.schema.json', path.join(SPEC_DIR, 'inventory.schema.json'))) as object);
  return validator;
}

/** `~/x` is the home directory's x; anything else is relative to `base`. */
export function resolveUserPath(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return path.join(os.homedir(), p.slice(1));
  return path.resolve(base, p);
}

/** ~/.ssh/id_ed25519, else ~/.ssh/id_rsa when only that one exists. */
function defaultKey(): string {
  const ed = path.join(os.homedir(), '.ssh', 'id_ed25519');
  const rsa = path.join(os.homedir(), '.ssh', 'id_rsa');
  return !existsSync(ed) && existsSync(rsa) ? rsa : ed;
}

export async function loadInventory(file: string): Promise<ResolvedInventory> {
  const abs = path.resolve(file);
  const { tree, errors } = await readYamlTree(abs, { secrets: false, markers: false });
  if (!tree) throw new ManifestErrors(errors);
  const { locate } = tree;
  const invalid = (pointer: string, message: string, hint?: string): TsconvergeError =>
    new TsconvergeError('MANIFEST_INVALID', message, { location: locate(pointer), terminal: true, ...(hint ? { hint } : {}) });
  const check = validate();
  if (!check(tree.value)) {
    const schema = JSON.parse(readAssetText('spec/inventory.schema.json', path.join(SPEC_DIR, 'inventory.schema.json'))) as Record<string, unknown>;
    throw new ManifestErrors(
      usefulErrors(check.errors as ErrorObject[]).map((e) => {
        const d = describeAjvError(e, schema);
        return invalid(d.pointer, `inventory: ${d.message}`, 'see "The inventory" in docs/push.md for the inventory format');
      }),
    );
  }
  const inv = tree.value as Inventory;
  const dir = path.dirname(abs);
  const defaults = inv.defaults ?? {};
  const hosts: PushHost[] = Object.entries(inv.hosts).map(([name, h]) => {
    const s = { ...defaults, ...h };
    const root = s.root ?? '/';
    return {
      name,
      node: h.node ?? name,
      address: h.address,
      port: s.port ?? 22,
      user: s.user ?? 'root',
      key: s.key ? resolveUserPath(s.key, dir) : defaultKey(),
      ...(s.environment ? { environment: s.environment } : {}),
      root,
      ...(s.stateDir ? { stateDir: s.stateDir } : {}),
      tsconverge: s.tsconverge ?? DEFAULT_REMOTE_BIN,
      connectTimeoutMs: (s.connectTimeout ?? 10) * 1000,
      source: locate(`/hosts/${escapeSegment(name)}`),
    };
  });
  const problems: TsconvergeError[] = [];
  const groups = new Map<string, readonly string[]>();
  for (const [g, members] of Object.entries(inv.groups ?? {})) {
    members.forEach((m, i) => {
      if (!(m in inv.hosts))
        problems.push(
          invalid(
            `/groups/${escapeSegment(g)}/${i}`,
            `inventory: group "${g}" names host "${m}", which is not in hosts`,
            `declared hosts: ${Object.keys(inv.hosts).join(', ')}`,
          ),
        );
    });
    if (g in inv.hosts)
      problems.push(
        invalid(
          `/groups/${escapeSegment(g)}`,
          `inventory: group "${g}" has the name of a host`,
          'give groups and hosts different names, so --limit means one thing',
        ),
      );
    groups.set(g, members);
  }
  if (problems.length) throw new ManifestErrors(problems);
  const knownHosts = inv.knownHosts ? resolveUserPath(inv.knownHosts, dir) : path.join(os.homedir(), '.ssh', 'known_hosts');
  return { file: abs, knownHosts, hosts, groups };
}

/** `*` any run of characters, `?` one character; everything else literal. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  );
}

/**
 * The hosts --limit selects: each comma-separated glob matches host names and group
 * names (a group selects its hosts). Inventory order is kept. Nothing matched: an error.
 */
export function selectHosts(inv: ResolvedInventory, limit: string | undefined): readonly PushHost[] {
  if (!limit) return inv.hosts;
  const globs = limit
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean)
    .map(globToRegExp);
  const names = new Set<string>();
  for (const h of inv.hosts) if (globs.some((g) => g.test(h.name))) names.add(h.name);
  for (const [g, members] of inv.groups) if (globs.some((re) => re.test(g))) members.forEach((m) => names.add(m));
  const picked = inv.hosts.filter((h) => names.has(h.name));
  if (picked.length === 0) {
    throw new TsconvergeError('INVALID_VALUE', `--limit ${limit} matches no host or group of ${inv.file}`, {
      terminal: true,
      hint: `hosts: ${inv.hosts.map((h) => h.name).join(', ')}${inv.groups.size ? `; groups: ${[...inv.groups.keys()].join(', ')}` : ''}`,
    });
  }
  return picked;
}
