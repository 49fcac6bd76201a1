import { describe, expect, it } from 'vitest';
import { delta } from './delta.js';
import type { AttributeChange } from '../providers/types.js';

const ch = (from: AttributeChange['from'], to: AttributeChange['to']): AttributeChange => ({
  path: '/x',
  attribute: 'x',
  from,
  to,
  effect: 'replace',
  sensitive: false,
});

describe('delta', () => {
  it.each([
    ['list: what left, what came', ch(['a', 'b'], ['b', 'c']), { removed: ['a'], added: ['c'] }],
    [
      'list of objects',
      ch([{ name: 'n', aliases: [] }], [{ name: 'n', aliases: ['db'] }]),
      { removed: [{ name: 'n', aliases: [] }], added: [{ name: 'n', aliases: ['db'] }] },
    ],
    ['map replaced whole', ch({ A: '1', B: '2' }, { B: '3', C: '4' }), { removed: [{ A: '1' }, { B: '2' }], added: [{ B: '3' }, { C: '4' }] }],
    ['scalar', ch('64Mi', '128Mi'), {}],
    ['sensitive', ch('(sensitive)', '(sensitive)'), {}],
  ])('%s', (_n, c, want) => expect(delta(c)).toEqual(want));
});
