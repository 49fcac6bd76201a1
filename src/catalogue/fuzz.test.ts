/** A quick run of the parser fuzzer (bench/fuzz.ts runs 100,000 inputs): 0 crashes. */
import { describe, expect, it } from 'vitest';
import { fuzzOne, runFuzz } from './fuzz.testkit.js';

describe('manifest and fleet parsers under fuzzing', () => {
  it('2,000 generated inputs: only TsconvergeError / ManifestErrors, never a crash', async () => {
    const stats = await runFuzz(2000);
    expect(stats.firstCrash).toBeUndefined();
    expect(stats.inputs).toBe(2000);
  });
  it.each([
    [
      'alias bomb',
      `a: &a [x,x,x,x,x,x,x,x,x]\n${'bcdefghij'
        .split('')
        .map(
          (c, i) =>
            `${c}: &${c} [${Array(9)
              .fill('*' + 'abcdefghij'[i])
              .join(',')}]`,
        )
        .join('\n')}\n`,
    ],
    ['10,000-deep flow nesting', `resources: ${'['.repeat(10_000)}${']'.repeat(10_000)}`],
    ['self-referencing alias', 'resources: &a [*a]'],
  ])('%s is an input error, not a crash', async (_name, text) => {
    expect(await fuzzOne(text)).toBeUndefined();
  });
});
