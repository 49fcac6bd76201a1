/**
 * Fuzz the manifest and fleet parsers with fast-check (src/catalogue/fuzz.testkit.ts):
 * 100,000 generated inputs by default. Exit 0 only with 0 crashes (anything thrown
 * other than TsconvergeError / ManifestErrors) and 0 inputs over 1 s.
 *
 *   npm run fuzz                       # 100,000 inputs
 *   npm run fuzz -- --runs 5000 --seed 42
 */
import { loadavg } from 'node:os';
import { fuzzOne, runFuzz } from '../src/catalogue/fuzz.testkit.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const runs = Number(arg('--runs') ?? process.env.FUZZ_RUNS ?? 100_000);
const seed = arg('--seed') === undefined ? Date.now() % 2 ** 31 : Number(arg('--seed'));
const started = performance.now();
const stats = await runFuzz(runs, seed, (s) => process.stderr.write(`  ${s.inputs} inputs, ${s.crashes} crashes, slowest ${s.slowestMs.toFixed(0)} ms\n`));
const secs = (performance.now() - started) / 1000;
console.log(`fuzz: ${stats.inputs} inputs in ${secs.toFixed(0)} s (node ${process.version}, seed ${seed}, load average ${loadavg()[1]!.toFixed(1)})`);
console.log(`  crashes: ${stats.crashes}`);
console.log(`  inputs over 1 s: ${stats.slow}`);
console.log(`  slowest input: ${stats.slowestMs.toFixed(0)} ms (${JSON.stringify(stats.slowest)})`);
// The slowest input again, alone: a stall of the shared machine shows as a fast re-run.
if (stats.slowestInput !== undefined) {
  const again: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await fuzzOne(stats.slowestInput);
    again.push(performance.now() - t);
  }
  console.log(`  slowest input re-run alone: ${again.map((ms) => `${ms.toFixed(0)} ms`).join(', ')}`);
}
if (stats.firstCrash) console.log(`first crash:\n${stats.firstCrash}`);
process.exitCode = stats.crashes === 0 && stats.slow === 0 ? 0 : 1;
