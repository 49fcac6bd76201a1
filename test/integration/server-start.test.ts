/**
 * A first start of the catalogue server (the embedded database created, the fleet code
 * compiled) takes 10-20 s on a busy machine. Meanwhile its port already answers: the
 * health check says "starting" and what it waits for, every other route 503; once both are
 * ready the real server answers on the same port, and `tsconverge nodes` prints its table.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { BIN, freePort, runCli } from '../support/harness.js';
import { tempDir, writeFleet } from '../support/server.js';

const work = tempDir('start');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** One request without a client certificate and without trusting the server's: status and body, or the error. */
function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = https.get(url, { rejectUnauthorized: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('a first start', () => {
  it('answers /v1/health with 503 "starting" and what it waits for, then serves on the same port', async () => {
    const fleet = path.join(work, 'fleet');
    const state = path.join(work, 'state');
    writeFleet(fleet, 'hello');
    expect((await runCli(['ca', 'init', '--state-dir', state])).code).toBe(0);
    const port = await freePort();
    const proc = spawn(process.execPath, [BIN, 'server', '--fleet', fleet, '--state-dir', state, '--host', '127.0.0.1', '--port', String(port)], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    proc.stderr!.on('data', (d) => {
      log += d;
    });
    try {
      const url = `https://127.0.0.1:${port}`;
      const until = async (what: string, ok: () => boolean, ms = 150_000): Promise<void> => {
        for (const deadline = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 100))) {
          if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${what}: ${log}`);
        }
      };
      await until('the start line', () => /starting: compiling the fleet tree/.test(log));
      expect(log).toMatch(
        /first start: creating the embedded PostgreSQL database in .*db, 10-20 s\); until both are ready https:\/\/127\.0\.0\.1:\d+\/v1\/health answers 503 "starting"/,
      );
      // The state, not a clock: asked before the server says it listens, the port answers "starting".
      const early = await get(`${url}/v1/health`);
      expect(/listening on/.test(log), 'the server was ready before it could be asked; the first start is expected to take seconds').toBe(false);
      expect(early).toMatchObject({ status: 503 });
      const body = JSON.parse((early as { body: string }).body);
      expect(body.status).toBe('starting');
      expect(body.waitingFor).toContain('store');
      expect(await get(`${url}/v1/nodes`)).toMatchObject({ status: 503 });
      await until('listening', () => /listening on/.test(log));
      const ready = await get(`${url}/v1/health`);
      expect(ready).toMatchObject({ status: 200 });
      expect(JSON.parse((ready as { body: string }).body)).toMatchObject({ status: 'ok', store: 'pglite' });
      expect(log).toMatch(/store open \(pglite\) after \d+\.\d s/);
      const nodes = await runCli(['nodes', '--server', url, '--state-dir', state]);
      expect(nodes.code, nodes.stderr).toBe(0);
      expect(nodes.stdout).toMatch(/^no nodes yet[^\n]*\n\nfleet code served: sha256:[0-9a-f]{12}\n$/);
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(undefined) : proc.once('exit', r)));
    }
  }, 200_000);
});
