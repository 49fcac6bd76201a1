/**
 * The catalogue server from the single executable (dist/tsconverge) compiles in its worker
 * threads: the worker's code is an asset of the executable (scripts/build-sea.mjs), run as
 * eval'd source (src/server/compile-pool.ts). A real agent converges what it serves.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, runCli, freePort } from '../support/harness.js';
import { startServer, tempDir, type ServerProc } from '../support/server.js';

const EXE = path.join(REPO, 'dist/tsconverge');
const PORT = await freePort();
const work = tempDir('sea');
let server: ServerProc | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the server as a single executable', () => {
  it('compiles catalogues in its worker threads; an agent converges one', { timeout: 240_000 }, async () => {
    if (!existsSync(EXE)) throw new Error(`${EXE} is missing: run npm run build (scripts/setup.sh does)`);
    const fleet = path.join(work, 'fleet');
    cpSync(path.join(REPO, 'examples/server-fleet'), fleet, { recursive: true });
    const state = path.join(work, 'server');
    const init = await runCli(['ca', 'init', '--state-dir', state]);
    expect(init.code, init.stderr).toBe(0);
    const fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
    writeFileSync(path.join(work, 'autosign'), 'hs-sea*\n');
    server = await startServer(
      ['--fleet', fleet, '--state-dir', state, '--autosign', path.join(work, 'autosign'), '--compile-workers', '2', '--log-level', 'debug'],
      PORT,
      { TSCONVERGE_SECRET_HS_TOKEN: 'sea-secret-value', TSCONVERGE_CACHE_DIR: path.join(work, 'cache') },
      EXE,
    );
    expect(server.log()).toMatch(/2 compile worker threads/);
    const root = path.join(work, 'root');
    const r = await runCli([
      'agent',
      '--server',
      server.url,
      '--ca-fingerprint',
      fingerprint,
      '--node',
      'hs-sea1',
      '--state-dir',
      path.join(work, 'agent'),
      '--root',
      root,
      '--onetime',
    ]);
    expect(r.code, r.stderr + server.log()).toBe(2);
    expect(readFileSync(path.join(root, 'etc/motd'), 'utf8')).toBe('Welcome to the fleet\nThis is hs-sea1; questions to ops@example.org.\n');
    // A compile that failed in a worker would have been logged before it was done in the main thread.
    expect(server.log()).not.toMatch(/compile worker failed/);
  });
});
