/**
 * Child process for the catalogue benchmarks (run under GNU time for peak RSS).
 * Usage: tsx bench/catalogue-worker.ts TARGET N SOURCE
 * Prints one JSON line: CatalogueWorkerResult.
 *
 * TARGETS is the hook to extend. src/ is in flux, so modules are imported by
 * variable specifiers and checked at run time: a missing export becomes a
 * reported error, not a crash of the harness.
 */
import { CONTAINER_COUNT, VOLUME_COUNT } from './workload.js';

export interface CatalogueWorkerResult {
  readonly ok: boolean;
  readonly iterations: number;
  readonly perSecond: number;
  /** The first iteration alone (caches cold), in milliseconds. */
  readonly firstMs: number;
  readonly error?: string;
}

/** One timed iteration; `i` numbers it (the fleet target compiles node i). */
type Iteration = (i: number) => Promise<void>;

interface Catalogue {
  readonly resources: readonly unknown[];
}
interface Src {
  readonly loadCatalogue: (target: string, opts: { facts: unknown; registry?: unknown }) => Promise<Catalogue>;
  readonly compileFleet?: (target: string, opts: Record<string, unknown>) => Promise<{ catalogue: Catalogue }>;
  readonly registry: unknown;
  readonly facts: Readonly<Record<string, unknown>>;
}

/** Resources in the workload manifest: one network, the volumes, the containers. */
const RESOURCES = 1 + VOLUME_COUNT + CONTAINER_COUNT;
/** Roles of examples/fleet (production), by the node-name rules of its site.yaml. */
const FLEET_NODE_PREFIXES = ['web', 'db', 'edge'] as const;

/** Each target does its one-off setup and returns the iteration it times. */
const TARGETS: Readonly<Record<string, (source: string) => Promise<Iteration>>> = {
  /** Load + validate + resolve the 50-container bench manifest. */
  'load-validate': async (manifest) => {
    const src = await importSrc();
    return async () => {
      const cat = await src.loadCatalogue(manifest, { facts: src.facts, registry: src.registry });
      if (cat.resources.length !== RESOURCES) throw new Error(`catalogue has ${cat.resources.length} resources, expected ${RESOURCES}`);
    };
  },
  /** Compile the catalogue of node i of a fleet tree (examples/fleet), nodes cycling through its roles. */
  'fleet-compile': async (tree) => {
    const src = await importSrc();
    const compileFleet = src.compileFleet;
    if (compileFleet === undefined) throw new Error('src/catalogue/fleet.ts has no compileFleet yet');
    // Every secret resolves to a dummy value: the benchmark must not need real ones.
    const env = new Proxy(
      {},
      {
        get: (_t, k) => (typeof k === 'string' && k.startsWith('TSCONVERGE_SECRET_') ? 'bench-dummy-secret-value' : undefined),
      },
    );
    return async (i) => {
      const node = `${FLEET_NODE_PREFIXES[i % FLEET_NODE_PREFIXES.length]}-${String(i).padStart(5, '0')}`;
      const fc = await compileFleet(tree, {
        node,
        environment: 'production',
        facts: { ...src.facts, hostname: node, fqdn: node },
        registry: src.registry,
        secrets: { env },
      });
      if (fc.catalogue.resources.length === 0) throw new Error(`node ${node}: empty catalogue`);
    };
  },
};

async function importSrc(): Promise<Src> {
  // Each module where this checkout has it: the layout of issue 23 first (src/spec, src/facts), then the one before it.
  const paths = [
    ['../src/catalogue/compile.js'],
    ['../src/spec/schemas.js', '../src/catalogue/schemas.js'],
    ['../src/facts/facts.js', '../src/providers/facts.js'],
    ['../src/catalogue/fleet.js'],
  ];
  const importFirst = async (alternatives: string[]): Promise<unknown> => {
    for (const p of alternatives) {
      try {
        return await import(p);
      } catch {
        /* not in this layout */
      }
    }
    return {};
  };
  const [compile, schemas, facts, fleet] = (await Promise.all(paths.map(importFirst))) as [
    Partial<Pick<Src, 'loadCatalogue'>>,
    { createSchemaRegistry?: () => unknown },
    { createFacts?: () => Promise<Readonly<Record<string, unknown>>> },
    Partial<Pick<Src, 'compileFleet'>>,
  ];
  if (compile.loadCatalogue === undefined || facts.createFacts === undefined) {
    throw new Error('src/catalogue/compile.ts has no loadCatalogue or src/facts/facts.ts no createFacts');
  }
  return {
    loadCatalogue: compile.loadCatalogue,
    compileFleet: fleet.compileFleet,
    // Compiled schemas are shared across iterations, as a compiler for many nodes would.
    registry: schemas.createSchemaRegistry?.(),
    facts: await facts.createFacts(),
  };
}

async function main(): Promise<void> {
  const [target = '', nText = '100', source = ''] = process.argv.slice(2);
  const n = Math.max(1, Number(nText));
  const setup = TARGETS[target];
  if (setup === undefined) throw new Error(`Unknown target: ${target}. Accepted values are ${Object.keys(TARGETS).join(', ')}.`);
  const iteration = await setup(source);
  const t0 = performance.now();
  await iteration(0);
  const firstMs = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 1; i <= n; i++) await iteration(i);
  const seconds = (performance.now() - t1) / 1000;
  print({ ok: true, iterations: n, perSecond: n / seconds, firstMs });
}

function print(r: CatalogueWorkerResult): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().catch((err: unknown) => {
  const e = err as { message?: string; errors?: readonly { message?: string }[] };
  const detail = e.errors
    ?.slice(0, 2)
    .map((x) => x.message)
    .join('; ');
  print({ ok: false, iterations: 0, perSecond: 0, firstMs: 0, error: `${(e.message ?? String(err)).split('\n')[0]}${detail ? `: ${detail}` : ''}` });
});
