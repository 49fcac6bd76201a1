/**
 * The engine's own rules, with an in-memory provider whose "world" is a Map: noop never
 * calls apply, dependents of a failure are skipped while the rest converges, transient
 * errors are retried from a fresh read, a change that does not show is NOT_CONVERGED,
 * and a hung provider call times out. (Real providers are tested against the real world
 * in test/integration.)
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import winston from 'winston';
import { loadCatalogue } from '../catalogue/compile.js';
import { createFacts } from '../facts/facts.js';
import { ProviderRegistry } from '../providers/registry.js';
import type { Provider } from '../providers/types.js';
import { TsconvergeError } from '../core/errors.js';
import { runCatalogue } from './run.js';

const log = winston.createLogger({ silent: true });

/** A provider for kind `file` whose world is a Map path -> content. */
function memoryFiles(
  world: Map<string, string>,
  behaviour: { fail?: Set<string>; flaky?: Map<string, number>; ignore?: Set<string>; hang?: Set<string> } = {},
) {
  const calls: string[] = [];
  const provider: Provider<{ content?: string; path?: string; ensure?: string }, string> = {
    kind: 'file',
    suitable: async () => undefined,
    readMany: async (rs) => new Map(rs.map((r) => [r.id, world.get(r.name) ?? null])),
    views: (r, o) => ({ desired: { content: r.attrs.content ?? '' }, actual: o === null ? null : { content: o } }),
    async apply(r) {
      calls.push(r.name);
      if (behaviour.hang?.has(r.name)) await new Promise(() => undefined);
      if (behaviour.fail?.has(r.name)) throw new TsconvergeError('FILE_IO', 'disk on fire', { terminal: true });
      const left = behaviour.flaky?.get(r.name) ?? 0;
      if (left > 0) {
        behaviour.flaky!.set(r.name, left - 1);
        throw new TsconvergeError('FILE_IO', 'transient');
      }
      if (!behaviour.ignore?.has(r.name)) world.set(r.name, r.attrs.content ?? '');
      return null;
    },
  };
  return { provider: provider as unknown as Provider, calls };
}

async function catalogue(yaml: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsc-run-'));
  writeFileSync(path.join(dir, 'm.yaml'), yaml);
  return loadCatalogue(dir, { facts: await createFacts() });
}

const three = `resources:
  - { kind: file, name: /a, content: A }
  - { kind: file, name: /b, content: B, require: "file[/a]" }
  - { kind: file, name: /c, content: C }
`;

const run = async (yaml: string, p: Provider, extra: Record<string, unknown> = {}) =>
  runCatalogue(await catalogue(yaml), new ProviderRegistry([p]), { noop: false, root: '/', log, facts: await createFacts(), retryDelayMs: () => 1, ...extra });

describe('runCatalogue', () => {
  it('noop plans every change and calls apply on nothing', async () => {
    const world = new Map([['/c', 'old']]);
    const { provider, calls } = memoryFiles(world);
    const report = await run(three, provider, { noop: true });
    expect(calls).toEqual([]);
    expect(world).toEqual(new Map([['/c', 'old']]));
    expect(report.resources.map((r) => [r.id, r.action, r.status])).toEqual([
      ['file[/a]', 'create', 'pending'],
      ['file[/b]', 'create', 'pending'],
      ['file[/c]', 'update', 'pending'],
    ]);
    expect(report.exitCode).toBe(2);
  });

  it('skips the dependents of a failed resource while the rest converges (exit 6)', async () => {
    const world = new Map<string, string>();
    const { provider } = memoryFiles(world, { fail: new Set(['/a']) });
    const report = await run(three, provider);
    expect(report.resources.map((r) => [r.id, r.status])).toEqual([
      ['file[/a]', 'failed'],
      ['file[/b]', 'skipped'],
      ['file[/c]', 'changed'],
    ]);
    expect(report.resources[1]!.error?.code).toBe('DEPENDENCY_FAILED');
    expect(world.get('/c')).toBe('C');
    expect(report.exitCode).toBe(6);
  });

  it('retries a transient failure from a fresh read; a terminal one is not retried', async () => {
    const world = new Map<string, string>();
    const flaky = memoryFiles(world, { flaky: new Map([['/a', 1]]) });
    const ok = await run(three, flaky.provider);
    expect(ok.summary).toMatchObject({ changed: 3, failed: 0 });
    expect(flaky.calls.filter((c) => c === '/a')).toHaveLength(2);
    const terminal = memoryFiles(new Map(), { fail: new Set(['/c']) });
    await run(three, terminal.provider);
    expect(terminal.calls.filter((c) => c === '/c')).toHaveLength(1);
  });

  it('a change that does not show on the second read fails NOT_CONVERGED', async () => {
    const { provider } = memoryFiles(new Map(), { ignore: new Set(['/c']) });
    const report = await run(three, provider);
    expect(report.resources[2]).toMatchObject({ status: 'failed', error: { code: 'NOT_CONVERGED' } });
  });

  it('a hung provider call times out and the run still ends', async () => {
    const { provider } = memoryFiles(new Map(), { hang: new Set(['/c']) });
    const report = await run(three, provider, { applyTimeoutMs: 200, retries: 0 });
    expect(report.resources[2]).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
    expect(report.summary.changed).toBe(2);
  });

  it('a second run after convergence changes nothing (exit 0)', async () => {
    const world = new Map<string, string>();
    const { provider } = memoryFiles(world);
    expect((await run(three, provider)).exitCode).toBe(2);
    expect((await run(three, provider)).exitCode).toBe(0);
  });

  it('--retries N: N extra attempts after transient failures, then it fails', async () => {
    const flaky = memoryFiles(new Map(), { flaky: new Map([['/c', 5]]) });
    const report = await run(three, flaky.provider, { retries: 3 });
    expect(flaky.calls.filter((c) => c === '/c')).toHaveLength(4);
    expect(report.resources[2]).toMatchObject({ status: 'failed', error: { code: 'FILE_IO' } });
  });
});

/** A provider whose apply of /slow outlives its timeout: it stops `stopMs` after its signal aborts (or never). */
function slowProvider(world: Map<string, string>, stopMs: number | 'never') {
  const spans: { start: number; end: number }[] = [];
  let active = 0;
  let overlap = false;
  const provider: Provider<{ content?: string }, string> = {
    kind: 'file',
    suitable: async () => undefined,
    readMany: async (rs) => new Map(rs.map((r) => [r.id, world.get(r.name) ?? null])),
    views: (r, o) => ({ desired: { content: r.attrs.content ?? '' }, actual: o === null ? null : { content: o } }),
    async apply(r, _plan, _o, ctx) {
      const span = { start: Date.now(), end: 0 };
      spans.push(span);
      if (++active > 1) overlap = true;
      try {
        if (spans.length === 1) {
          // First attempt: hangs until cancelled, then takes stopMs to undo its work.
          await new Promise<void>((resolve) => {
            ctx.signal.addEventListener(
              'abort',
              () => {
                if (stopMs !== 'never') setTimeout(resolve, stopMs);
              },
              { once: true },
            );
          });
          throw new TsconvergeError('FILE_IO', 'cancelled');
        }
        world.set(r.name, r.attrs.content ?? '');
        return null;
      } finally {
        active--;
        span.end = Date.now();
      }
    },
  };
  return { provider: provider as unknown as Provider, spans, overlap: () => overlap };
}

describe('runCatalogue: timeouts and retries never overlap', () => {
  const one = 'resources:\n  - { kind: file, name: /slow, content: S }\n';

  it('a timed-out apply is cancelled and awaited before its retry starts', async () => {
    const world = new Map<string, string>();
    const slow = slowProvider(world, 60);
    const report = await run(one, slow.provider, { applyTimeoutMs: 100, retries: 1 });
    expect(slow.spans).toHaveLength(2);
    expect(slow.overlap()).toBe(false);
    expect(slow.spans[1]!.start).toBeGreaterThanOrEqual(slow.spans[0]!.end);
    expect(report.resources[0]).toMatchObject({ status: 'changed' });
    expect(world.get('/slow')).toBe('S');
  });

  it('an apply that ignores its cancellation is not retried (terminal TIMEOUT)', async () => {
    const slow = slowProvider(new Map(), 'never');
    const report = await run(one, slow.provider, { applyTimeoutMs: 100, retries: 3 });
    expect(slow.spans).toHaveLength(1);
    expect(report.resources[0]).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT' } });
    expect(report.resources[0]!.error!.message).toContain('had not stopped');
  });
});

describe('runCatalogue: interrupts', () => {
  const many = 'resources:\n' + Array.from({ length: 6 }, (_, i) => `  - { kind: file, name: /f${i}, content: X${i} }\n`).join('');

  it('after the signal aborts no new resource starts; the one in flight finishes; the rest are skipped INTERRUPTED', async () => {
    const world = new Map<string, string>();
    const ctl = new AbortController();
    const started: string[] = [];
    const provider: Provider<{ content?: string }, string> = {
      kind: 'file',
      suitable: async () => undefined,
      readMany: async (rs) => new Map(rs.map((r) => [r.id, world.get(r.name) ?? null])),
      views: (r, o) => ({ desired: { content: r.attrs.content ?? '' }, actual: o === null ? null : { content: o } }),
      async apply(r) {
        started.push(r.name);
        if (r.name === '/f1') ctl.abort(new Error('SIGTERM'));
        await new Promise((res) => setTimeout(res, 20));
        world.set(r.name, r.attrs.content ?? '');
        return null;
      },
    };
    const report = await run(many, provider as unknown as Provider, { concurrency: 1, signal: ctl.signal });
    expect(started).toEqual(['/f0', '/f1']);
    expect(report.interrupted).toBe(true);
    expect(report.resources.map((r) => r.status)).toEqual(['changed', 'changed', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(report.resources[2]!.error?.code).toBe('INTERRUPTED');
    expect(world.get('/f1')).toBe('X1');
  });

  it('a resource in flight longer than the grace period is cancelled through its signal, undoes, and fails INTERRUPTED', async () => {
    const world = new Map<string, string>([['/f0', 'old']]);
    const ctl = new AbortController();
    let undone = false;
    const provider: Provider<{ content?: string }, string> = {
      kind: 'file',
      suitable: async () => undefined,
      readMany: async (rs) => new Map(rs.map((r) => [r.id, world.get(r.name) ?? null])),
      views: (r, o) => ({ desired: { content: r.attrs.content ?? '' }, actual: o === null ? null : { content: o } }),
      async apply(_r, _p, _o, ctx) {
        setTimeout(() => ctl.abort(new Error('SIGINT')), 10);
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener(
            'abort',
            () => {
              undone = true;
              resolve();
            },
            { once: true },
          ),
        );
        throw ctx.signal.reason;
      },
    };
    const t0 = Date.now();
    const report = await run(many, provider as unknown as Provider, { concurrency: 1, signal: ctl.signal, interruptGraceMs: 50 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(undone).toBe(true);
    expect(world.get('/f0')).toBe('old');
    expect(report.resources[0]).toMatchObject({ status: 'failed', error: { code: 'INTERRUPTED' } });
    expect(report.resources.slice(1).every((r) => r.status === 'skipped' && r.error?.code === 'INTERRUPTED')).toBe(true);
  });
});
