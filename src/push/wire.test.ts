import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { openStdinChannel, pushDocument, type ControlLine } from './wire.js';
import { clearSecrets, knownSecrets, redact, registerSecret } from '../core/redact.js';
import type { Catalogue } from '../core/types.js';

const catalogue = (content: string): Catalogue => {
  const r = {
    kind: 'file',
    name: 'a',
    id: 'file[a]',
    attrs: { path: '/etc/a', content },
    sensitive: ['content'],
    relations: { require: [], before: [], notify: [], subscribe: [] },
    locate: () => ({ file: 'x' }),
  };
  return { version: 'sha256:abc', resources: [r], byId: new Map([[r.id, r]]) } as unknown as Catalogue;
};

describe('the stdin channel of apply --catalogue-stdin', () => {
  const doc = JSON.stringify(pushDocument(catalogue('hello'), { root: '/fleet', node: 'web-1' }));
  it.each([
    ['one chunk, then a control line', [`${doc}\nSIGINT\n`], ['SIGINT']],
    ['document split across chunks', [doc.slice(0, 10), doc.slice(10), '\n'], []],
    ['control line split across chunks', [`${doc}\nSIG`, 'TERM\n'], ['SIGTERM']],
    ['unknown lines are ignored', [`${doc}\nhello\nSIGINT\n`], ['SIGINT']],
    ['end of input without a newline', [doc], []],
  ])('%s', async (_what, chunks, controls) => {
    const stdin = new PassThrough();
    const seen: ControlLine[] = [];
    const ch = openStdinChannel((l) => seen.push(l), stdin);
    for (const c of chunks) stdin.write(c);
    if (!chunks.at(-1)!.endsWith('\n')) stdin.end();
    const got = await ch.catalogue;
    await new Promise((r) => setImmediate(r));
    expect(got.resources.map((r) => [r.id, r.attrs.content])).toEqual([['file[a]', 'hello']]);
    expect(seen).toEqual(controls);
    ch.close();
  });

  it.each([
    ['nothing', '', /no catalogue on stdin/],
    ['not JSON', 'nope\n', /not JSON/],
    ['another format', '{"formatVersion":2}\n', /unknown format/],
  ])('refuses %s', async (_what, text, message) => {
    const stdin = new PassThrough();
    const ch = openStdinChannel(() => undefined, stdin);
    stdin.end(text);
    await expect(ch.catalogue).rejects.toThrow(message);
  });
});

describe('the document push sends', () => {
  it('carries only the secrets that occur in this catalogue; the receiving side masks them', () => {
    clearSecrets();
    registerSecret('s3cret-of-web-1');
    registerSecret('s3cret-of-db-1');
    const doc = pushDocument(catalogue('token=s3cret-of-web-1\n'), { root: '/fleet', node: 'web-1' });
    expect(doc.secrets).toEqual(['s3cret-of-web-1']);
    clearSecrets();
    const stdin = new PassThrough();
    const ch = openStdinChannel(() => undefined, stdin);
    stdin.end(JSON.stringify(doc));
    return ch.catalogue.then(() => {
      expect(knownSecrets()).toContain('s3cret-of-web-1');
      expect(redact('x s3cret-of-web-1 y')).toBe('x (sensitive) y');
      clearSecrets();
    });
  });
});
