import { afterEach, describe, expect, it } from 'vitest';
import { holdsSecrets } from './compile-cache.js';
import type { StoredResource } from './stored.js';
import { clearSecrets, registerSecret } from '../core/redact.js';

const none = { require: [], before: [], notify: [], subscribe: [] };
const res = (attrs: Record<string, unknown>, sensitive: string[]): StoredResource => ({
  kind: 'file',
  name: 'f',
  id: 'file[f]',
  attrs,
  sensitive,
  relations: none,
});

afterEach(() => clearSecrets());

describe('holdsSecrets: a catalogue that must not be stored in clear', () => {
  it.each([
    ['no sensitive pointer', res({ content: 'x' }, []), false],
    ['a sensitive attribute that is not set', res({ path: '/x' }, ['content']), false],
    ['a sensitive attribute that is set', res({ content: 'x' }, ['content']), true],
    ['a tainted pointer inside an object', res({ env: { TOKEN: 'x' } }, ['/env/TOKEN']), true],
    ['an escaped pointer', res({ 'a/b': 'x' }, ['/a~1b']), true],
  ])('%s', (_what, r, expected) => {
    expect(holdsSecrets([r], JSON.stringify(r))).toBe(expected);
  });

  it('a known secret anywhere in the text', () => {
    const r = res({ content: 'token hg-known-secret' }, []);
    expect(holdsSecrets([r], JSON.stringify(r))).toBe(false);
    registerSecret('hg-known-secret');
    expect(holdsSecrets([r], JSON.stringify(r))).toBe(true);
  });
});
