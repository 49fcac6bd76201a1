/**
 * Rollouts with real processes (issue 30, docs/rollout.md): `tsconverge server` on PGlite and
 * ten real agents (`tsconverge agent --server ... --onetime`), files-only catalogues, each in
 * its own root. A good change walks the waves of rollout.yaml by itself; a bad one (a file the
 * canary cannot write) fails on the canary, halts, and the other nine never receive it;
 * `rollout revert` brings the canary back; a server restarted mid-rollout resumes it;
 * `rollout promote --all` is recorded with the operator certificate's name. Tests wait on the
 * rollout's state, never on sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, runCli } from '../support/harness.js';
import { operatorTls, startServer, tempDir, type ServerProc } from '../support/server.js';
import { reports, waitFor } from '../support/agent.js';
import { rolloutStatus, untilRollout, writeRolloutFleet } from '../support/rollout.js';
import type { RolloutStatus } from '../../src/server/rollout.js';
import { request } from '../../src/server/client.js';

const PORT = await freePort();
const DASH = await freePort();
const work = tempDir('i30-rollout');
const fleet = path.join(work, 'fleet');
const state = path.join(work, 'server');
const caDir = path.join(state, 'ca');
const url = `https://127.0.0.1:${PORT}`;
let server: ServerProc;
let fingerprint: string;
const NODES = Array.from({ length: 10 }, (_, i) => `i30-n${i}`);
const nodes = NODES.map((node) => ({ node, root: tempDir(`i30-root-${node}`), state: tempDir(`i30-state-${node}`) }));
const canary = nodes[0]!;
type Node = (typeof nodes)[number];

const ROLLOUT = [
  'waves:',
  '  - name: canary',
  '    nodes: ["i30-n0"]',
  '    bake: 1s',
  '  - name: some',
  '    percent: 30',
  '    bake: 1s',
  '  - name: all',
  'health:',
  '  reportWithin: 10m',
  'onFailure: halt',
  '',
].join('\n');
const writeFleet = (message: string, config = ''): void => writeRolloutFleet(fleet, message, config, ROLLOUT);

const status = (): Promise<RolloutStatus> => rolloutStatus(url, operatorTls(caDir));
const until = (what: string, pred: (s: RolloutStatus) => boolean, timeoutMs = 60_000): Promise<RolloutStatus> =>
  untilRollout(what, url, operatorTls(caDir), pred, timeoutMs);

/** One run of a real agent; returns its exit code and its newest report. */
async function run(n: Node): Promise<{ code: number; report: any; stderr: string }> {
  const before = reports(n.state).length;
  const r = await runCli([
    'agent',
    '--server',
    url,
    '--ca-fingerprint',
    fingerprint,
    '--node',
    n.node,
    '--state-dir',
    n.state,
    '--root',
    n.root,
    '--connect-timeout',
    '5',
    '--onetime',
  ]);
  const all = reports(n.state);
  expect(all.length, r.stderr).toBeGreaterThan(before);
  return { code: r.code, report: all[all.length - 1], stderr: r.stderr };
}

/**
 * Every given agent runs once, four at a time. During a rollout the last wave runs first and the
 * canary last, one wave after the other: a wave promoted during the round (its bake is 1 s) then
 * shows in the next round, so each round shows exactly one step.
 */
async function round(list: readonly Node[] = nodes): Promise<Map<string, { code: number; report: any; stderr: string }>> {
  const out = new Map<string, { code: number; report: any; stderr: string }>();
  const s = await status();
  const groups = new Map<number, Node[]>();
  for (const n of list) {
    const w = s.rollout && (s.rollout.state === 'rolling' || s.rollout.state === 'halted') ? waveOf(s, n.node) : 0;
    groups.set(w, [...(groups.get(w) ?? []), n]);
  }
  for (const w of [...groups.keys()].sort((a, b) => b - a)) {
    const queue = [...groups.get(w)!];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let n = queue.shift(); n; n = queue.shift()) out.set(n.node, await run(n));
      }),
    );
  }
  return out;
}

const motd = (n: Node): string => readFileSync(path.join(n.root, 'etc/motd'), 'utf8');
const waveOf = (s: RolloutStatus, node: string): number => s.rollout!.waves.find((w) => w.nodes.some((x) => x.node === node))!.index;

/** The tree changes: SIGHUP, and wait for the server to start the rollout to it. */
async function change(message: string, config = ''): Promise<RolloutStatus> {
  const before = (await status()).rollout?.id ?? 0;
  writeFleet(message, config);
  server.proc.kill('SIGHUP');
  return until(`a rollout after #${before}`, (s) => (s.rollout?.id ?? 0) > before && s.rollout!.state === 'rolling');
}

/** A dashboard page, logged in with the dashboard token. */
async function dashboard(page: string): Promise<string> {
  const token = readFileSync(path.join(state, 'dashboard.token'), 'utf8').trim();
  const r = await fetch(`http://127.0.0.1:${DASH}${page}`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  return r.text();
}

async function start(): Promise<void> {
  server = await startServer(
    [
      '--fleet',
      fleet,
      '--state-dir',
      state,
      '--autosign',
      path.join(work, 'autosign.txt'),
      '--agent-interval',
      '600',
      '--dashboard',
      `127.0.0.1:${DASH}`,
      '--compile-workers',
      '0',
    ],
    PORT,
  );
}

beforeAll(async () => {
  writeFleet('version one');
  writeFileSync(path.join(work, 'autosign.txt'), 'i30-*\n');
  const init = await runCli(['ca', 'init', '--state-dir', state]);
  expect(init.code, init.stderr).toBe(0);
  fingerprint = /fingerprint: (sha256:[0-9a-f]{64})/.exec(init.stdout)![1]!;
  await start();
  // The first version the server serves is the stable one: every node gets it, no rollout.
  const first = await round();
  for (const n of nodes) expect(first.get(n.node)!.code, first.get(n.node)!.stderr).toBe(2);
  for (const n of nodes) expect(motd(n)).toBe('version one\n');
}, 600_000);

afterAll(async () => {
  await server?.stop();
  for (const d of [work, ...nodes.flatMap((n) => [n.root, n.state])]) rmSync(d, { recursive: true, force: true });
});

describe('a rollout with ten real agents', () => {
  let v2 = '';

  it('a good change walks the waves by itself and ends on every node', async () => {
    const s0 = await change('version two');
    expect(s0.rollout!.wave).toBe(0);
    v2 = s0.rollout!.to;
    expect(s0.rollout!.from).toBe(s0.stable);
    expect(s0.rollout!.waves.map((w) => [w.name, w.nodes.length])).toEqual([
      ['canary', 1],
      ['some', 3],
      ['all', 6],
    ]);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = await status();
      if (before.rollout!.state === 'done') break;
      const wave = before.rollout!.wave;
      await round();
      // Only the waves reached so far have the new version; the others still have the first.
      const onNew = nodes.filter((n) => motd(n) === 'version two\n').map((n) => n.node);
      for (const n of nodes)
        expect(motd(n) === 'version two\n', `${n.node} (wave ${waveOf(before, n.node)}, rollout at wave ${wave})`).toBe(waveOf(before, n.node) <= wave);
      seen.push(onNew.length);
      await until(`wave ${wave} promoted`, (s) => s.rollout!.state === 'done' || s.rollout!.wave > wave, 60_000);
    }
    expect(seen).toEqual([1, 4, 10]);
    const done = await status();
    expect(done.rollout!.state).toBe('done');
    expect(done.stable).toBe(v2);
    const page = await dashboard('/rollout');
    expect(page).toMatch(/<span class="status s-done">done<\/span>/);
    expect(page.match(/data-serves="new"/g)).toHaveLength(10);
    expect(
      done.audit
        .filter((a) => a.rolloutId === done.rollout!.id)
        .map((a) => `${a.actor} ${a.action}`)
        .reverse(),
    ).toEqual(['server start', 'server promote', 'server promote', 'server done']);
  }, 600_000);

  it('a bad change fails on the canary and halts; the other nine never receive it', async () => {
    // The canary cannot write /etc/i30-app/config: /etc/i30-app is a file on it.
    writeFileSync(path.join(canary.root, 'etc/i30-app'), 'in the way\n');
    const s0 = await change('version three', 'threads: 8');
    const results = await round();
    expect([4, 6]).toContain(results.get(canary.node)!.code);
    expect(results.get(canary.node)!.report.codeVersion).toBe(s0.rollout!.to);
    const halted = await until('the rollout halted', (s) => s.rollout!.state === 'halted');
    expect(halted.rollout!.reason).toMatch(/wave canary: i30-n0: 1 failed resource\(s\): file\[config\]/);
    expect(halted.audit[0]).toMatchObject({ actor: 'server', action: 'halt' });
    // The nine run again: still the good version, and nothing of the bad one.
    const again = await round(nodes.slice(1));
    for (const n of nodes.slice(1)) {
      expect(existsSync(path.join(n.root, 'etc/i30-app')), n.node).toBe(false);
      expect(motd(n)).toBe('version two\n');
      expect(again.get(n.node)!.report.codeVersion).toBe(v2);
    }
    // The dashboard shows the same: halted, why, and the canary the only node served the new version.
    const page = await dashboard('/rollout');
    expect(page).toMatch(/<span id="rollout-state"><span class="status s-halted">halted<\/span>/);
    expect(page).toMatch(/wave canary: i30-n0: 1 failed resource\(s\): file\[config\]/);
    expect(page.match(/data-serves="new"/g)).toHaveLength(1);
    expect(page).toMatch(/data-node="i30-n0" data-serves="new"/);
    const metrics = (await request(url, 'metrics', operatorTls(caDir))).body.toString();
    expect(metrics).toMatch(/^tsconverge_rollout_state\{state="halted"\} 1$/m);
    expect(metrics).toMatch(/^tsconverge_rollout_state\{state="rolling"\} 0$/m);
    expect(metrics).toMatch(/^tsconverge_rollout_wave 0$/m);
    const human = await runCli(['rollout', 'status', '--server', url, '--state-dir', state]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/halted \(wave canary: i30-n0: 1 failed resource/);
    expect(human.stdout).toMatch(/i30-n0\s+serves new\s+failed/);
  }, 600_000);

  it('`rollout revert` brings the canary back to the previous version', async () => {
    const r = await runCli(['rollout', 'revert', '--server', url, '--state-dir', state, '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.rollout.state).toBe('reverted');
    expect(r.json.audit[0]).toMatchObject({ actor: 'operator:operator', action: 'revert' });
    const back = await run(canary);
    expect(back.code, back.stderr).toBe(2);
    expect(back.report.codeVersion).toBe(v2);
    expect(motd(canary)).toBe('version two\n');
    // Reverted stays reverted: halt or revert again is refused.
    const again = await runCli(['rollout', 'halt', '--server', url, '--state-dir', state]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/409.*reverted/);
  }, 600_000);

  it('a server restarted mid-rollout resumes it where it was', async () => {
    rmSync(path.join(canary.root, 'etc/i30-app'));
    const s0 = await change('version four');
    expect(s0.rollout!.from).toBe(v2);
    await round([canary]);
    const mid = await until('the canary wave promoted', (s) => s.rollout!.wave === 1);
    await server.stop();
    await start();
    const resumed = await status();
    expect(resumed.rollout).toMatchObject({ id: mid.rollout!.id, wave: 1, state: 'rolling', from: v2, to: s0.rollout!.to });
    expect(resumed.rollout!.waveStartedAt).toBe(mid.rollout!.waveStartedAt);
    // The nodes of later waves are still served the previous version, from the restarted server's snapshot.
    const later = nodes.filter((n) => waveOf(resumed, n.node) === 2);
    const r = await run(later[0]!);
    expect(r.report.codeVersion).toBe(v2);
    for (let i = 0; i < 4 && (await status()).rollout!.state !== 'done'; i++) {
      const wave = (await status()).rollout!.wave;
      await round();
      await until(`wave ${wave} promoted after the restart`, (s) => s.rollout!.state === 'done' || s.rollout!.wave > wave);
    }
    expect((await status()).rollout!.state).toBe('done');
    await round();
    for (const n of nodes) expect(motd(n)).toBe('version four\n');
  }, 600_000);

  it('a bad rollout.yaml is refused at file:line:col; the last good code stays served, no rollout starts', async () => {
    const before = await status();
    const good = readFileSync(path.join(fleet, 'rollout.yaml'), 'utf8');
    writeFileSync(path.join(fleet, 'rollout.yaml'), good.replace('bake: 1s', 'bake: soon'));
    const logged = server.log().length;
    server.proc.kill('SIGHUP');
    await waitFor('the reload refused', () => /does not compile/.test(server.log().slice(logged)), 60_000, 100);
    expect(server.log().slice(logged)).toMatch(/rollout\.yaml:4:5 \(at \/waves\/0\/bake\): rollout policy: must match pattern/);
    expect(await status()).toMatchObject({ stable: before.stable, rollout: { id: before.rollout!.id, state: before.rollout!.state } });
    writeFileSync(path.join(fleet, 'rollout.yaml'), good);
  }, 120_000);

  it("`rollout promote --all` skips the waves and is in the audit trail with the operator's name", async () => {
    await change('version five, urgent');
    const r = await runCli(['rollout', 'promote', '--all', '--server', url, '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ done \(every node at once, by operator:operator\)/);
    const s = await status();
    expect(s.audit[0]).toMatchObject({ actor: 'operator:operator', action: 'promote-all', rolloutId: s.rollout!.id });
    await round();
    for (const n of nodes) expect(motd(n)).toBe('version five, urgent\n');
  }, 600_000);
});
