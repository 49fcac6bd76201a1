import { describe, expect, it } from 'vitest';
import { checkDataKeys, fileLayer, historyOf, mergeLayers } from './data.js';
import { parseYamlTree, SecretRef } from './yamltree.js';

function layer(name: string, text: string) {
  const { tree, errors } = parseYamlTree(`/fleet/${name}.yaml`, text, { secrets: true, markers: true });
  expect(errors).toEqual([]);
  return fileLayer(name, tree!);
}

describe('mergeLayers', () => {
  it.each([
    ['maps merge deep', 'm: { a: { x: 1, y: 2 } }', 'm: { a: { y: 3 } }', { a: { x: 1, y: 3 } }],
    ['lists replace', 'm: { l: [1, 2] }', 'm: { l: [3] }', { l: [3] }],
    ['!append appends', 'm: { l: [1, 2] }', 'm: { l: !append [3] }', { l: [1, 2, 3] }],
    ['!replace replaces a map', 'm: { a: { x: 1, y: 2 } }', 'm: { a: !replace { y: 3 } }', { a: { y: 3 } }],
    ['scalars replace', 'm: { s: a }', 'm: { s: b }', { s: 'b' }],
    ['a map replaces a scalar', 'm: { s: a }', 'm: { s: { k: v } }', { s: { k: 'v' } }],
  ])('%s', (_n, low, high, want) => {
    expect(mergeLayers([layer('low', low), layer('high', high)]).value.m).toEqual(want);
  });

  it('records which layer, file and line set each value, and what it overrode', () => {
    const data = mergeLayers([layer('common', 'm:\n  a: 1\n  b: 2\n'), layer('node', 'm:\n  b: 3\n')]);
    const h = historyOf(data, '/m/b');
    expect(h.map((x) => [x.layer, x.location.line, x.value])).toEqual([
      ['common', 3, 2],
      ['node', 2, 3],
    ]);
    expect(historyOf(data, '/m/a').map((x) => x.layer)).toEqual(['common']);
  });

  it('keeps secrets as references, shown by name', () => {
    const data = mergeLayers([layer('env', 'm: { pw: !secret db_pw }')]);
    expect((data.value.m as Record<string, unknown>).pw).toBeInstanceOf(SecretRef);
    expect(historyOf(data, '/m/pw')[0]!.value).toBe('!secret db_pw');
  });
});

describe('checkDataKeys', () => {
  const params = (m: string) => (m === 'ntp' ? ['servers', 'pools'] : undefined);
  it.each([
    ['unknown module', 'ntp: { servers: [] }\nnpt: { servers: [] }\n', 'unknown data key "npt"', 2, '/npt'],
    ['unknown parameter', 'ntp:\n  servers: []\n  server: x\n', 'unknown data key "ntp.server"', 3, '/ntp/server'],
    ['not a map', 'ntp: [a]\n', 'must be a map', 1, '/ntp'],
  ])('%s', (_n, text, message, line, pointer) => {
    const [e] = checkDataKeys([layer('common', text)], params, ['ntp']);
    expect(e).toMatchObject({ code: 'DATA_INVALID', location: { line, pointer } });
    expect(e!.message).toContain(message);
  });
});
