/**
 * The last step of scripts/setup.sh (scripts/link-bin.sh): `tsconverge` on the PATH as a
 * link to this checkout's single executable, said out loud; a real file in its place (an
 * installed release) left alone. Run into a temp directory (TSCONVERGE_BIN_DIR), never
 * into this machine's /usr/local/bin.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { REPO } from './support/harness.js';

const dir = mkdtempSync(path.join(tmpdir(), 'i24-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const EXE = path.join(REPO, 'dist/tsconverge');
const VERSION = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version as string;
const link = (env: Record<string, string> = {}) =>
  spawnSync('bash', [path.join(REPO, 'scripts/link-bin.sh')], { encoding: 'utf8', env: { ...process.env, TSCONVERGE_BIN_DIR: dir, ...env } });

describe('scripts/link-bin.sh', () => {
  it('links BIN_DIR/tsconverge to dist/tsconverge, says so, runs again the same, and then tsconverge runs from the PATH', () => {
    if (!existsSync(EXE)) throw new Error(`${EXE} is missing: run npm run build (scripts/setup.sh does)`);
    for (let i = 0; i < 2; i++) {
      const r = link({ PATH: `${dir}:${process.env.PATH}` });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`setup: tsconverge is on the PATH: ${dir}/tsconverge -> ${EXE} (${VERSION})\n`);
      expect(lstatSync(path.join(dir, 'tsconverge')).isSymbolicLink()).toBe(true);
      expect(readlinkSync(path.join(dir, 'tsconverge'))).toBe(EXE);
    }
    const v = spawnSync('tsconverge', ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:/usr/bin:/bin` } });
    expect(v.status, v.stderr).toBe(0);
    // A directory that is not on the PATH: it says what to add.
    expect(link({ PATH: '/usr/bin:/bin' }).stdout).toContain(`setup: ${dir} is not on this shell's PATH: export PATH="${dir}:$PATH"`);
  });

  it('leaves an installed file in place, and says so', () => {
    rmSync(path.join(dir, 'tsconverge'));
    writeFileSync(path.join(dir, 'tsconverge'), '#!/bin/sh\necho installed\n', { mode: 0o755 });
    const r = link();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`setup: ${dir}/tsconverge is a file, not a link to this checkout: left as it is`);
    expect(readFileSync(path.join(dir, 'tsconverge'), 'utf8')).toBe('#!/bin/sh\necho installed\n');
  });
});
