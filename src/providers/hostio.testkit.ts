/**
 * Test helpers for the host settings providers: a provider context over a temp root,
 * resources built like the catalogue builds them, and one converge step that plays
 * the engine's part (read, views, apply) so providers can be tested before and
 * besides the CLI. Used by tests only.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import winston from 'winston';
import { planResource } from '../engine/diff.js';
import { createSchemaRegistry } from '../spec/schemas.js';
import type { Facts } from '../facts/facts.js';
import { createRootFs } from '../core/rootfs.js';
import { createProcessRunner } from '../core/exec.js';
import { declaredAbsent, type Provider, type ProviderContext, type Resource, type ResourcePlan } from './types.js';

export function tempRoot(prefix: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(path.join(os.tmpdir(), `tsc-${prefix}-`));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export function testContext(root: string): ProviderContext {
  return {
    root,
    fs: createRootFs(root),
    exec: createProcessRunner(),
    log: winston.createLogger({ silent: true }),
    facts: {
      hostname: 'test',
      fqdn: 'test',
      os: { family: 'linux', name: 'test', version: '', id: '' },
      kernel: { release: '', arch: '' },
      cpus: 1,
      memoryBytes: 0,
      interfaces: {},
    } as unknown as Facts,
    signal: new AbortController().signal,
  };
}

export function resource<A>(kind: string, name: string, attrs: A): Resource<A> {
  return { kind, name, id: `${kind}[${name}]`, attrs, sensitive: [] };
}

/** The engine's plan for a resource as it is now. */
export async function planOf<A, O>(p: Provider<A, O>, r: Resource<A>, ctx: ProviderContext): Promise<{ plan: ResourcePlan; observed: O | null }> {
  const observed = (await p.readMany([r], ctx)).get(r.id) ?? null;
  const v = p.views(r, observed, ctx);
  return { plan: planResource(v.desired, v.actual, declaredAbsent(p as never, r as never), createSchemaRegistry().kinds.get(r.kind), []), observed };
}

/** One engine step: plan, apply when needed, and prove the change took. Returns the plan that was applied. */
export async function converge<A, O>(p: Provider<A, O>, r: Resource<A>, ctx: ProviderContext): Promise<ResourcePlan> {
  const { plan, observed } = await planOf(p, r, ctx);
  if (plan.action === 'none') return plan;
  await p.apply(r, plan, observed, ctx);
  const again = await planOf(p, r, ctx);
  if (again.plan.action !== 'none') throw new Error(`not converged: ${JSON.stringify(again.plan.changes)}`);
  return plan;
}

// ---------------------------------------------------------------------------
// Timeline tests through the real CLI (node bin/tsconverge.js, built into dist/).

export const REPO = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(REPO, 'bin/tsconverge.js');

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The report, for --format json runs. */
  readonly json?: any;
}

/**
 * Run the CLI as a separate process. `prefix` runs it inside something else, e.g.
 * ['ip', 'netns', 'exec', NS] for a throwaway network namespace.
 */
export function cli(args: readonly string[], opts: { prefix?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const argv = [...(opts.prefix ?? []), process.execPath, BIN, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => {
      let json: unknown;
      if (args.includes('json')) {
        try {
          json = JSON.parse(stdout);
        } catch {
          /* not json */
        }
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

/** Bytes, mtime and mode of files under a root: equal fingerprints mean untouched. */
export function fingerprint(root: string, files: readonly string[]): string {
  return files
    .map((f) => {
      const p = path.join(root, f);
      if (!existsSync(p)) return `${f}: absent`;
      const st = statSync(p);
      return `${f}: ${readFileSync(p, 'hex')} ${st.mtimeMs} ${(st.mode & 0o7777).toString(8)}`;
    })
    .join('\n');
}

/** One resource of a JSON report. */
export function reported(
  run: CliRun,
  id: string,
): {
  action: string;
  status: string;
  refresh: boolean;
  changes: { attribute: string; path: string; from?: unknown; to?: unknown }[];
  error?: { code: string; message: string; hint?: string };
} {
  const r = run.json?.resources?.find((x: { id: string }) => x.id === id);
  if (!r) throw new Error(`${id} is not in the report:\n${run.stdout}\n${run.stderr}`);
  return r;
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether a pid is a live (non-zombie) process. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

export function readPidfile(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}
