import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecretStore, secretEnvName } from './secrets.js';
import { SecretRef } from './yamltree.js';
import { taintedPointers } from './compile.js';
import { errorsOf } from './fleet.testkit.js';

const at = { file: '/fleet/data/common.yaml', line: 3, column: 5, pointer: '/webapp/db_password' };

function dirWith(files: Record<string, [string, number]>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsc-secrets-'));
  for (const [name, [text, mode]] of Object.entries(files)) {
    writeFileSync(path.join(dir, name), text);
    chmodSync(path.join(dir, name), mode);
  }
  return dir;
}

describe('secrets', () => {
  it.each([
    ['db_password', 'TSCONVERGE_SECRET_DB_PASSWORD'],
    ['shop.db-pw', 'TSCONVERGE_SECRET_SHOP_DB_PW'],
  ])('%s is read from %s', (name, env) => expect(secretEnvName(name)).toBe(env));

  it.each([
    ['a 0600 file, newline dropped', { pw: ['file-value\n', 0o600] }, {}, 'file-value'],
    ['a 0400 file', { pw: ['file-value', 0o400] }, {}, 'file-value'],
    ['the environment first', { pw: ['file-value', 0o600] }, { TSCONVERGE_SECRET_PW: 'env-value' }, 'env-value'],
  ])('%s', async (_n, files, env, want) => {
    const store = createSecretStore({ dir: dirWith(files as Record<string, [string, number]>), env });
    expect(await store.resolve(new SecretRef('pw', at))).toBe(want);
    expect(store.values()).toEqual([want]);
  });

  it.each([
    ['missing', {}, {}, 'SECRET_MISSING', 'is not set'],
    ['readable by group', { pw: ['v', 0o640] }, {}, 'SECRET_INSECURE', 'mode 0640'],
    ['readable by others', { pw: ['v', 0o604] }, {}, 'SECRET_INSECURE', '0600 or 0400'],
    ['empty file', { pw: ['\n', 0o600] }, {}, 'SECRET_MISSING', 'is empty'],
    ['empty variable', {}, { TSCONVERGE_SECRET_PW: '' }, 'SECRET_MISSING', 'is empty'],
  ])('%s: an error at the line that refers to it', async (_n, files, env, code, message) => {
    const store = createSecretStore({ dir: dirWith(files as Record<string, [string, number]>), env });
    const [e] = await errorsOf(store.resolve(new SecretRef('pw', at)));
    expect(e).toMatchObject({ code, file: 'common.yaml', line: 3, pointer: '/webapp/db_password' });
    expect(e!.message).toContain(message);
    expect(e!.message).not.toContain('"v"');
  });
});

describe('taintedPointers', () => {
  it.each([
    ['a map key', { environment: { A: '1', DB_PASSWORD: 'pw-123' } }, ['/environment/DB_PASSWORD']],
    ['a whole attribute', { content: 'x = pw-123\n' }, ['/content']],
    ['a list as a whole', { command: ['run', '--password=pw-123'] }, ['/command']],
    ['a key with a slash', { labels: { 'a/b': 'pw-123' } }, ['/labels/a~1b']],
    ['nothing', { environment: { A: '1' } }, []],
  ])('%s', (_n, attrs, want) => {
    expect(taintedPointers(attrs, ['pw-123'])).toEqual(want);
  });
});
