/**
 * The rollout policy of a fleet tree: `rollout.yaml` at its top (spec/rollout.schema.json,
 * docs/rollout.md). Read with positions and validated like every other YAML file of the
 * tree (a bad file is a ManifestErrors batch naming file, line, column and field), then
 * resolved into plain numbers: the catalogue server keeps the resolved form with each
 * rollout, so a restarted server goes on with the policy the rollout started with.
 *
 * `assignWaves` puts nodes into waves: name/facts waves take what they match, in order;
 * percentage waves take the other nodes in the order of a stable hash of their names
 * (sha256), cumulatively, so the same nodes go first every time; the last wave takes
 * every node left.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { readAssetText } from '../core/assets.js';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { createAjv, SPEC_DIR } from '../spec/schemas.js';
import { describeAjvError, usefulErrors } from './load.js';
import { readYamlTree } from './yamltree.js';

export const ROLLOUT_FILE = 'rollout.yaml';

export interface RolloutWave {
  readonly name: string;
  readonly nodes?: readonly string[];
  readonly facts?: Readonly<Record<string, string | number | boolean>>;
  readonly percent?: number;
  readonly bakeMs: number;
}

export interface RolloutPolicy {
  readonly waves: readonly RolloutWave[];
  readonly health: { readonly maxFailed: number; readonly maxHeld: number; readonly maxReplaces: number; readonly reportWithinMs: number };
  readonly onFailure: 'halt' | 'revert';
}

interface RawPolicy {
  waves: { name: string; nodes?: string[]; facts?: Record<string, string | number | boolean>; percent?: number; bake?: string }[];
  health?: { maxFailed?: number; maxHeld?: number; maxReplaces?: number; reportWithin?: string };
  onFailure?: 'halt' | 'revert';
}

const SCHEMA_KEY = 'spec/rollout.schema.json';
const schemaText = (): string => readAssetText(SCHEMA_KEY, path.join(SPEC_DIR, 'rollout.schema.json'));
let validator: ValidateFunction | undefined;

/** `1h30m`, `10m`, `30s` -> milliseconds (the schema's pattern has checked the form). */
export function durationMs(v: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v);
  if (!m || v === '') throw new TsconvergeError('INVALID_VALUE', `not a duration: ${v}`, { hint: 'e.g. 30s, 10m, 1h30m' });
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** The policy of the fleet tree `root`, or undefined when it has no rollout.yaml (every change reaches every node at once). */
export async function loadRolloutPolicy(root: string): Promise<RolloutPolicy | undefined> {
  const file = path.join(root, ROLLOUT_FILE);
  if (
    !(await stat(file).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    return undefined;
  const { tree, errors } = await readYamlTree(file, { secrets: false, markers: false });
  if (!tree) throw new ManifestErrors(errors);
  const invalid = (pointer: string, message: string): TsconvergeError =>
    new TsconvergeError('MANIFEST_INVALID', `rollout policy: ${message}`, {
      location: tree.locate(pointer),
      terminal: true,
      hint: 'see docs/rollout.md for rollout.yaml',
    });
  validator ??= createAjv().compile(JSON.parse(schemaText()) as object);
  if (!validator(tree.value)) {
    const schema = JSON.parse(schemaText()) as Record<string, unknown>;
    throw new ManifestErrors(
      usefulErrors(validator.errors as ErrorObject[]).map((e) => {
        const d = describeAjvError(e, schema);
        return invalid(d.pointer, d.message);
      }),
    );
  }
  const raw = tree.value as RawPolicy;
  const problems: TsconvergeError[] = [];
  const names = new Set<string>();
  let lastPercent = 0;
  raw.waves.forEach((w, i) => {
    const at = `/waves/${i}`;
    if (names.has(w.name)) problems.push(invalid(`${at}/name`, `two waves are named "${w.name}"`));
    names.add(w.name);
    const selects = w.nodes !== undefined || w.facts !== undefined;
    if (selects && w.percent !== undefined) problems.push(invalid(`${at}/percent`, `wave "${w.name}" chooses nodes by name or facts and by percent: give one`));
    if (!selects && w.percent === undefined && i !== raw.waves.length - 1)
      problems.push(invalid(at, `wave "${w.name}" chooses no nodes: give nodes, facts or percent (only the last wave may take "every node left")`));
    if (w.percent !== undefined) {
      if (w.percent <= lastPercent)
        problems.push(invalid(`${at}/percent`, `wave "${w.name}": percentages are cumulative and must grow (${w.percent} after ${lastPercent})`));
      lastPercent = w.percent;
    }
    for (const g of w.nodes ?? [])
      if (/[^a-z0-9_.*?-]/.test(g))
        problems.push(
          invalid(`${at}/nodes/${w.nodes!.indexOf(g)}`, `"${g}" is not a node name glob (lower-case letters, digits, . _ - and the wildcards * ?)`),
        );
  });
  if (problems.length) throw new ManifestErrors(problems);
  const h = raw.health ?? {};
  return {
    waves: raw.waves.map((w) => ({
      name: w.name,
      ...(w.nodes ? { nodes: w.nodes } : {}),
      ...(w.facts ? { facts: w.facts } : {}),
      ...(w.percent !== undefined ? { percent: w.percent } : {}),
      bakeMs: durationMs(w.bake ?? '0s'),
    })),
    health: { maxFailed: h.maxFailed ?? 0, maxHeld: h.maxHeld ?? 0, maxReplaces: h.maxReplaces ?? 0, reportWithinMs: durationMs(h.reportWithin ?? '1h') },
    onFailure: raw.onFailure ?? 'halt',
  };
}

/** `*` any run of characters, `?` one; the rest literal. */
function globTest(glob: string, name: string): boolean {
  return new RegExp(
    `^${glob
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  ).test(name);
}

function factAt(facts: unknown, dotted: string): unknown {
  let v: unknown = facts;
  for (const k of dotted.split('.')) v = v !== null && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** The stable order of percentage waves: sha256 of the node name. */
export const waveRank = (node: string): string => createHash('sha256').update(node).digest('hex');

/** node -> wave index, for every node given (its stored facts may be undefined). */
export function assignWaves(policy: RolloutPolicy, nodes: readonly { readonly node: string; readonly facts?: unknown }[]): Map<string, number> {
  const out = new Map<string, number>();
  const last = policy.waves.length - 1;
  policy.waves.forEach((w, i) => {
    if (w.nodes === undefined && w.facts === undefined) return;
    for (const n of nodes) {
      if (out.has(n.node)) continue;
      const byName = w.nodes === undefined || w.nodes.some((g) => globTest(g, n.node));
      const byFacts = w.facts === undefined || Object.entries(w.facts).every(([k, v]) => factAt(n.facts, k) === v);
      if (byName && byFacts) out.set(n.node, i);
    }
  });
  const rest = nodes
    .filter((n) => !out.has(n.node))
    .map((n) => n.node)
    .sort((a, b) => (waveRank(a) < waveRank(b) ? -1 : waveRank(a) > waveRank(b) ? 1 : 0));
  let taken = 0;
  policy.waves.forEach((w, i) => {
    if (w.percent === undefined) return;
    const upTo = Math.min(rest.length, Math.ceil((w.percent * rest.length) / 100));
    for (; taken < upTo; taken++) out.set(rest[taken]!, i);
  });
  for (; taken < rest.length; taken++) out.set(rest[taken]!, last);
  return out;
}
