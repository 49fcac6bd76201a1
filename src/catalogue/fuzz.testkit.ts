/**
 * Property-based fuzzing of the manifest and fleet parsers (fast-check). One property:
 * whatever the input (structured YAML-ish documents, mutated valid manifests, random
 * bytes, deep nesting, alias bombs), parsing, validating and compiling either succeeds
 * or fails with TsconvergeError / ManifestErrors, never anything else, and each input
 * takes less than a second. bench/fuzz.ts runs it 100,000 times; fuzz.test.ts 2,000.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { parseManifestText } from './load.js';
import { parseYamlTree } from './yamltree.js';
import { checkSite, classifyNode } from './classify.js';
import { compileResources } from './compile.js';
import { createSchemaRegistry } from '../spec/schemas.js';
import { createGraph } from '../engine/graph.js';
import { createProviderRegistry } from '../providers/container.js';
import type { Facts } from '../facts/facts.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SEEDS = [
  'examples/quickstart/manifest.yaml',
  'examples/host-baseline/manifest.yaml',
  'examples/fleet/environments/production/manifests/site.yaml',
].flatMap((f) => {
  try {
    return [readFileSync(path.join(REPO, f), 'utf8')];
  } catch {
    return [];
  }
});

const registry = createSchemaRegistry();
// Every kind and every attribute any kind declares, from spec/kinds: a new kind is fuzzed without an edit here.
const KINDS = [...registry.kinds.keys()];
const FIELDS = [...new Set([...registry.kinds.values()].flatMap((k) => ['name', ...k.attributes.keys(), 'require', 'notify']))].sort();
const TOKENS = [
  'resources:',
  '\n',
  '  ',
  '    ',
  '- ',
  'kind: ',
  'name: ',
  'file',
  'docker.container',
  '&a ',
  '*a',
  '&b ',
  '*b',
  '[',
  ']',
  '{',
  '}',
  ': ',
  ', ',
  '"',
  "'",
  '!secret ',
  '!append ',
  '!replace ',
  '!!str ',
  '!!binary ',
  '!foo ',
  '# c',
  '---\n',
  '...\n',
  '| \n',
  '> \n',
  '? ',
  '<<: *a',
  '%YAML 1.2\n',
  '\t',
  '\\u0000',
  '/etc/../x',
  '0644',
  '__proto__',
  'constructor',
  'roles:',
  'nodes:',
  'regex: "^(a+)+$"',
  'glob: "*"',
  'role: web',
  'modules: [x]',
  'default: { role: web }',
  '~',
  'null',
  '1e999',
  '0x1F',
  '.inf',
];

/** Structured resources with random kinds and fields. */
const structured = fc
  .array(
    fc.dictionary(fc.constantFrom(...FIELDS, 'kind'), fc.oneof(fc.constantFrom(...KINDS), fc.jsonValue({ maxDepth: 3 }), fc.string({ maxLength: 40 })), {
      maxKeys: 6,
    }),
    { maxLength: 8 },
  )
  .map((resources) => stringify({ resources }));

const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((t) => t.join(''));

const mutated = fc
  .tuple(
    fc.constantFrom(...(SEEDS.length ? SEEDS : ['resources: []\n'])),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 4 }), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 8 }),
  )
  .map(([seed, edits]) =>
    edits.reduce((s, [at, del, ins]) => {
      const i = at % (s.length + 1);
      return s.slice(0, i) + ins + s.slice(i + del);
    }, seed),
  );

const randomBytes = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('utf8'));
const randomText = fc.string({ unit: 'binary', maxLength: 300 });

const deep = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('flow', 'block', 'map', 'mixed')).map(([n, style]) => {
  if (style === 'flow') return `resources: ${'['.repeat(n)}${']'.repeat(n)}\n`;
  if (style === 'map') return `resources: ${'{a: '.repeat(n)}1${'}'.repeat(n)}\n`;
  if (style === 'mixed') return `resources: ${'[{a: '.repeat(n)}1${'}]'.repeat(n)}\n`;
  const m = Math.min(n, 3000); // block nesting needs n^2 bytes of indentation
  let s = 'resources:\n';
  for (let i = 0; i < m; i++) s += `${' '.repeat(i + 1)}- \n`;
  return s;
});

const aliasBomb = fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2, max: 12 }), fc.boolean()).map(([levels, width, inResources]) => {
  let s = inResources ? 'x0: &x0 {kind: file, name: /a}\n' : 'x0: &x0 [lol]\n';
  for (let i = 1; i <= levels; i++)
    s += `x${i}: &x${i} [${Array(width)
      .fill(`*x${i - 1}`)
      .join(', ')}]\n`;
  return inResources ? `resources:\n  - *x${levels}\n${s.replace(/^/gm, '# ')}` + s.replace(/^x/gm, 'y') : s;
});

/** Every kind of input, weighted toward the structured ones. */
export const anyInput = fc.oneof(
  { arbitrary: structured, weight: 4 },
  { arbitrary: tokenSoup, weight: 4 },
  { arbitrary: mutated, weight: 4 },
  { arbitrary: randomBytes, weight: 1 },
  { arbitrary: randomText, weight: 1 },
  { arbitrary: deep, weight: 1 },
  { arbitrary: aliasBomb, weight: 1 },
);

const providers = createProviderRegistry();
const FACTS = { hostname: 'fuzz-01', os: { codename: 'bookworm' } } as unknown as Facts;

function expected(err: unknown): boolean {
  return err instanceof TsconvergeError || err instanceof ManifestErrors;
}

export interface FuzzStats {
  inputs: number;
  crashes: number;
  slow: number;
  slowestMs: number;
  slowest?: string;
  slowestInput?: string;
  firstCrash?: string;
}

/** Run every parser on one input; returns a crash description or undefined. */
export async function fuzzOne(text: string): Promise<string | undefined> {
  const tryIt = async (what: string, fn: () => unknown): Promise<string | undefined> => {
    try {
      await fn();
      return undefined;
    } catch (err) {
      return expected(err) ? undefined : `${what}: ${(err as Error)?.stack ?? String(err)}`;
    }
  };
  return (
    (await tryIt('manifest', async () => {
      const out = parseManifestText('/fuzz/manifest.yaml', text, registry);
      if (out.errors.length === 0 && out.resources.length > 0) {
        const catalogue = await compileResources(out.resources, { facts: FACTS, registry, manifestRoot: '/fuzz' });
        createGraph(catalogue, providers);
      }
    })) ??
    (await tryIt('site.yaml', () => {
      const { tree } = parseYamlTree('/fuzz/site.yaml', text, { secrets: true, markers: true });
      if (tree && checkSite(tree).length === 0) classifyNode(tree, 'a'.repeat(5000) + '!', FACTS);
    })) ??
    (await tryIt('module.yaml', () => parseYamlTree('/fuzz/module.yaml', text, { secrets: false, markers: false })))
  );
}

/** Check the property over `runs` inputs; never throws, returns the figures. */
export async function runFuzz(runs: number, seed?: number, onProgress?: (s: FuzzStats) => void): Promise<FuzzStats> {
  const stats: FuzzStats = { inputs: 0, crashes: 0, slow: 0, slowestMs: 0 };
  await fc.assert(
    fc.asyncProperty(anyInput, async (text) => {
      const t = performance.now();
      const crash = await fuzzOne(text);
      const ms = performance.now() - t;
      stats.inputs++;
      if (ms > stats.slowestMs) {
        stats.slowestMs = ms;
        stats.slowest = text.slice(0, 120);
        stats.slowestInput = text;
      }
      if (ms > 1000) stats.slow++;
      if (crash) {
        stats.crashes++;
        stats.firstCrash ??= `${crash}\n--- input (first 500 chars) ---\n${text.slice(0, 500)}`;
      }
      if (onProgress && stats.inputs % 10_000 === 0) onProgress(stats);
      return true; // counted, not thrown: the run goes on to the full count
    }),
    { numRuns: runs, ...(seed === undefined ? {} : { seed }) },
  );
  return stats;
}
