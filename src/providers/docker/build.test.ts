import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRecord, dockerignore, hashTag, tarOf, type ContextFile } from './build.js';

const file = (rel: string, text: string, mode = 0o644): ContextFile => ({ rel, mode, data: Buffer.from(text), sha: `${rel.length}`.padStart(12, '0') });

describe('build context', () => {
  it('.dockerignore: globs, ** and ! exceptions, the last match wins', () => {
    const ig = dockerignore('# comment\nnode_modules\n*.md\n!README.md\n**/*.log\nbuild/\n');
    expect(['node_modules/x/y.js', 'notes.md', 'a/deep/debug.log', 'build/out.bin', 'x.log'].map(ig)).toEqual([true, true, true, true, true]);
    expect(['README.md', 'src/app.js', 'docs/a.md', 'buildx'].map(ig)).toEqual([false, false, false, false]);
  });
  it('the hash changes with a file, a mode, the target or an arg, and only then', () => {
    const base = buildRecord({ context: '/c', args: { A: '1' } }, [file('Dockerfile', 'FROM x'), file('app', 'v1')]);
    expect(buildRecord({ context: '/elsewhere', args: { A: '1' } }, [file('Dockerfile', 'FROM x'), file('app', 'v1')]).hash).toBe(base.hash);
    const other = (f: ContextFile[], spec = {}): string => buildRecord({ context: '/c', args: { A: '1' }, ...spec }, f).hash;
    expect(other([file('Dockerfile', 'FROM x'), { ...file('app', 'v1'), sha: 'different000' }])).not.toBe(base.hash);
    expect(other([file('Dockerfile', 'FROM x'), file('app', 'v1')], { target: 't' })).not.toBe(base.hash);
    expect(other([file('Dockerfile', 'FROM x'), file('app', 'v1')], { args: { A: '2' } })).not.toBe(base.hash);
    expect(base.files).toEqual({ Dockerfile: '000000000010', app: '000000000003' });
  });
  it('hash tags keep the repository, registry port included', () => {
    expect(hashTag('app:1', 'abcdef0123456789')).toBe('app:tsc-abcdef012345');
    expect(hashTag('127.0.0.1:5000/team/app', 'abcdef0123456789')).toBe('127.0.0.1:5000/team/app:tsc-abcdef012345');
  });
  it('the archive is one tar(1) reads back, long paths included', () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/f.txt`;
    const dir = mkdtempSync(path.join(tmpdir(), 'i28-tar-'));
    const tar = path.join(dir, 'ctx.tar');
    writeFileSync(tar, tarOf([file('Dockerfile', 'FROM x\n'), file(long, 'deep\n', 0o755)]));
    expect(execFileSync('tar', ['-tvf', tar], { encoding: 'utf8' })).toMatch(new RegExp(`-rwxr-xr-x .* ${long}`));
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    expect(execFileSync('cat', [path.join(dir, long)], { encoding: 'utf8' })).toBe('deep\n');
  });
});
