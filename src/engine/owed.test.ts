import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openOwed } from './owed.js';

describe('owed refreshes', () => {
  it('are persisted before add resolves, survive a reopen, and are cleared only by clear', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'tsc-owed-')), 'state');
    const a = await openOwed(dir, true);
    await a.add(['docker.container[web]'], 'file[/etc/web.conf]');
    expect(JSON.parse(readFileSync(path.join(dir, 'owed.json'), 'utf8'))['docker.container[web]'].because).toBe('file[/etc/web.conf]');
    const b = await openOwed(dir, true);
    expect(b.get('docker.container[web]')?.because).toBe('file[/etc/web.conf]');
    await b.clear('docker.container[web]');
    expect((await openOwed(dir, true)).get('docker.container[web]')).toBeUndefined();
  });

  it('is never written under noop', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'tsc-owed-')), 'state');
    const s = await openOwed(dir, false);
    await s.add(['x[y]'], 'z[w]');
    expect(s.get('x[y]')).toBeDefined();
    expect(existsSync(dir)).toBe(false);
  });
});
