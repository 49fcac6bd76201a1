/**
 * The project runs on Node.js 24 LTS (issue 11): vitest itself, every `node` a test
 * spawns, and the CLI launcher even when an older `node` comes first on the PATH.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../support/harness.js';

const major = (v: string): number => Number(v.replace(/^v/, '').split('.')[0]);
const dir = mkdtempSync(path.join(tmpdir(), 'hf-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runtime', () => {
  it('vitest runs on Node.js 24 or newer', () => {
    expect(major(process.version)).toBeGreaterThanOrEqual(24);
  });

  it('`node` on the PATH of a test is the same runtime', () => {
    const v = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
    expect(v).toBe(process.version);
  });

  it("bin/tsconverge.js runs the CLI on the project's Node.js 24 even when /usr/bin comes first", () => {
    const probe = path.join(dir, 'probe.cjs');
    writeFileSync(probe, 'process.stderr.write(`runtime ${process.version}\\n`);\n');
    const out = execFileSync(BIN, ['--version'], {
      encoding: 'utf8',
      env: { PATH: `/usr/local/bin:/usr/bin:/bin:${process.env.PATH}`, NODE_OPTIONS: `--require ${probe}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const err = execFileSync('sh', ['-c', `"${BIN}" --version 2>&1 >/dev/null`], {
      encoding: 'utf8',
      env: { PATH: `/usr/local/bin:/usr/bin:/bin`, NODE_OPTIONS: `--require ${probe}` },
    });
    expect(major(err.replace('runtime ', '').trim())).toBeGreaterThanOrEqual(24);
  });
});
