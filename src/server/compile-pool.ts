/**
 * Compile worker threads of the catalogue server: node catalogues are compiled on every
 * core while the main thread answers requests. A node always goes to the same worker (by
 * a hash of its name), so a repeat compile of an unchanged catalogue gives the same bytes
 * (issuedAt is remembered per worker). A compile that fails in a worker is done again in
 * the main thread by the caller (code.ts), which then has the full error objects.
 *
 * Outside the single executable the worker is dist/server/compile-worker.js (or the .ts
 * source under tsx); inside it, the worker's own bundle is an asset of the executable
 * (scripts/build-sea.mjs) run as eval'd source.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BUNDLE } from '../core/bundle.js';
import type { Compiled, Issued } from './compiler.js';

/** The SEA asset key of the worker bundle (scripts/build-sea.mjs). */
export const WORKER_ASSET = 'server/compile-worker.cjs';

export interface WorkerInit {
  readonly environment?: string;
  readonly secretsDir?: string;
  readonly serverKeyPem: string;
}
export interface CompileJob {
  readonly id: number;
  readonly dir: string;
  readonly version: string;
  readonly node: string;
  readonly facts: Readonly<Record<string, unknown>>;
  readonly prior?: Issued;
}
export type CompileReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly body: Uint8Array;
      readonly etag: string;
      readonly signature: string;
      readonly catalogueVersion: string;
      readonly issuedAt: string;
    }
  | { readonly id: number; readonly ok: false; readonly message: string };

interface Slot {
  worker: Worker;
  readonly pending: Map<number, { resolve: (c: Compiled & Issued) => void; reject: (e: Error) => void; version: string }>;
  idle?: NodeJS.Timeout;
}

/** A larger young generation: a compile makes many short-lived objects (fewer scavenges: 10,000 compiles on 2 workers took 7.4 CPU-s in the workers with 48 MB, 8.4 with the default). */
const RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 48 };

function startWorker(init: WorkerInit): Worker {
  if (BUNDLE) {
    const sea = createRequire(import.meta.url)('node:sea') as typeof import('node:sea');
    return new Worker(sea.getAsset(WORKER_ASSET, 'utf8'), { eval: true, workerData: init, resourceLimits: RESOURCE_LIMITS });
  }
  const ts = import.meta.url.endsWith('.ts');
  const url = new URL(ts ? './compile-worker.ts' : './compile-worker.js', import.meta.url);
  const execArgv = ts && !process.execArgv.some((a) => a.includes('tsx')) ? [...process.execArgv, '--import', 'tsx'] : undefined;
  return new Worker(url, { workerData: init, execArgv, resourceLimits: RESOURCE_LIMITS });
}

function hashName(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export class CompilePool {
  private readonly slots: (Slot | undefined)[];
  private next = 1;
  private closed = false;

  /** `idleMs`: a worker with nothing to do for this long exits (its memory with it); the next compile starts it again. */
  constructor(
    readonly size: number,
    private readonly init: WorkerInit,
    private readonly idleMs = 60_000,
  ) {
    this.slots = Array.from({ length: size }, () => undefined);
  }

  /** Workers start on first use; one that died is started again. */
  private slot(i: number): Slot {
    let s = this.slots[i];
    if (s) return s;
    const worker = startWorker(this.init);
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (r: CompileReply) => {
      const p = slot.pending.get(r.id);
      if (!p) return;
      slot.pending.delete(r.id);
      if (r.ok)
        p.resolve({
          body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength),
          etag: r.etag,
          signature: r.signature,
          catalogueVersion: r.catalogueVersion,
          codeVersion: p.version,
          issuedAt: r.issuedAt,
        });
      else p.reject(new Error(r.message));
    });
    const fail = (err: Error): void => {
      clearTimeout(slot.idle);
      if (this.slots[i] === slot) this.slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`compile worker exited (${code})`)));
    this.slots[i] = s = slot;
    return s;
  }

  compile(dir: string, version: string, node: string, facts: Readonly<Record<string, unknown>>, prior?: Issued): Promise<Compiled & Issued> {
    if (this.closed) return Promise.reject(new Error('the compile pool is closed'));
    let slot: Slot;
    try {
      slot = this.slot(hashName(node) % this.size);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const id = this.next++;
    clearTimeout(slot.idle);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, version });
      // While a compile is under way its worker keeps the process alive.
      if (slot.pending.size === 1) slot.worker.ref();
      const job: CompileJob = { id, dir, version, node, facts, ...(prior ? { prior } : {}) };
      slot.worker.postMessage(job);
    }).finally(() => {
      if (slot.pending.size > 0) return;
      slot.worker.unref();
      clearTimeout(slot.idle);
      slot.idle = setTimeout(() => {
        if (slot.pending.size === 0) void slot.worker.terminate();
      }, this.idleMs);
      slot.idle.unref();
    }) as Promise<Compiled & Issued>;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.slots) clearTimeout(s?.idle);
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }
}
