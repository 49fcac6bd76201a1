/**
 * The fleet code the server serves, and the compiles made from it.
 *
 * `reload()` snapshots the fleet tree into STATE_DIR/code/VERSION (VERSION is a hash of
 * every file's path and bytes), validates the snapshot by compiling every node it names
 * (secrets stand in as placeholders), and only then swaps it in. A tree that does not
 * compile never replaces the last good one: the error is kept (`lastError`) and logged,
 * and the server goes on serving the last good code. Snapshots are frozen (treefs.ts),
 * so every compile shares one read of each file, parsed YAML, modules and templates.
 *
 * Compiled catalogues are cached by (code version, node, facts): the answer to a repeat
 * request is ready without compiling, and its ETag lets the agent skip the body.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { BUILTIN_MODULES, validateFleet } from '../catalogue/fleet.js';
import type { SchemaRegistry } from '../spec/schemas.js';
import { freezeTree } from '../catalogue/treefs.js';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import type { SecretStoreOptions } from '../catalogue/secrets.js';
import { CompilePool } from './compile-pool.js';
import { Compiler, type Compiled, type Issued } from './compiler.js';

export interface CodeVersion {
  readonly version: string;
  readonly dir: string;
  readonly loadedAt: string;
  readonly nodes: number;
}

export interface CodeError {
  readonly at: string;
  readonly version?: string;
  readonly message: string;
}

/** Facts that change between runs without changing what a host should be: dropped before compiling. */
export const VOLATILE_FACTS = ['uptimeSeconds'] as const;

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of (await readdir(path.join(root, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (d.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await listFiles(root, r)));
    else if (d.isFile()) out.push(r);
  }
  return out;
}

/** sha256 over every file's relative path and bytes. */
export async function treeVersion(root: string): Promise<string> {
  const h = createHash('sha256');
  for (const f of await listFiles(root))
    h.update(f)
      .update('\0')
      .update(await readFile(path.join(root, f)))
      .update('\0');
  return 'sha256:' + h.digest('hex');
}

export type { Compiled } from './compiler.js';

export interface CodeManagerOptions {
  readonly fleet: string;
  readonly stateDir: string;
  readonly environment?: string;
  readonly secrets?: SecretStoreOptions;
  readonly serverKeyPem: string;
  readonly validationFacts: Facts;
  /** Compiled catalogues kept (default 20,000). */
  readonly cacheSize?: number;
  readonly onCompile?: (seconds: number) => void;
  /** Compile worker threads (compile-pool.ts); 0 (the default): compile in this thread. */
  readonly compileWorkers?: number;
  readonly onWorkerError?: (message: string) => void;
}

export class CodeManager {
  current: CodeVersion | undefined;
  lastError: CodeError | undefined;
  private readonly compiler: Compiler;
  private readonly registry: SchemaRegistry;
  private readonly pool: CompilePool | undefined;
  private readonly cache = new Map<string, Compiled>();
  /** Loaded code versions, the current one included (newest last). */
  private readonly known = new Map<string, CodeVersion>();
  /** Each node's last issued catalogue: a repeat compile of the same catalogue keeps its issuedAt, so its bytes and ETag. */
  private readonly issued = new Map<string, Issued>();
  /** Working catalogues in a row that failed in a worker (compile-pool.ts). */
  private workerFailures = 0;
  /** Compiles under way by cache key: concurrent requests of one node share one compile. */
  private readonly inflight = new Map<string, Promise<Compiled>>();
  private reloading: Promise<boolean> | undefined;

  constructor(private readonly opts: CodeManagerOptions) {
    this.compiler = new Compiler({ environment: opts.environment, secrets: opts.secrets, serverKeyPem: opts.serverKeyPem });
    this.registry = this.compiler.registry;
    // Workers read secrets from this process's environment (copied at their start) and --secrets-dir; a custom env stays in this thread.
    if ((opts.compileWorkers ?? 0) > 0 && opts.secrets?.env === undefined && !opts.secrets?.placeholders) {
      this.pool = new CompilePool(opts.compileWorkers!, { environment: opts.environment, secretsDir: opts.secrets?.dir, serverKeyPem: opts.serverKeyPem });
    }
    freezeTree(BUILTIN_MODULES);
  }

  /** Compile workers in use (0: compiles run in this thread). */
  get workers(): number {
    return this.workerFailures >= 3 ? 0 : (this.pool?.size ?? 0);
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** Load the fleet tree; true when it became (or already was) the served code. Never throws. */
  reload(): Promise<boolean> {
    this.reloading ??= this.reloadNow().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async reloadNow(): Promise<boolean> {
    let version: string | undefined;
    try {
      version = await treeVersion(this.opts.fleet);
      if (this.current?.version === version) {
        this.lastError = undefined;
        return true;
      }
      const dir = path.join(this.opts.stateDir, 'code', version.slice(7, 23));
      if (
        !(await stat(dir).then(
          () => true,
          () => false,
        ))
      ) {
        const tmp = `${dir}.tmp-${process.pid}`;
        await rm(tmp, { recursive: true, force: true });
        await mkdir(path.dirname(dir), { recursive: true });
        await cp(this.opts.fleet, tmp, { recursive: true, dereference: true, filter: (src) => !path.basename(src).startsWith('.') || src === this.opts.fleet });
        // The copy must be the tree that was hashed: a tree edited while copying is tried again on the next reload.
        if ((await treeVersion(tmp)) !== version) {
          await rm(tmp, { recursive: true, force: true });
          throw new Error('the fleet tree changed while it was being read; reload again');
        }
        await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
          await rm(tmp, { recursive: true, force: true });
          if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        });
      }
      freezeTree(dir);
      const nodes = await validateFleet(dir, this.opts.validationFacts, this.registry, { trustedNamesOnly: true });
      // The code served until now stays at hand: a rollout (rollout.ts) serves it to the nodes outside its wave.
      if (this.current) this.remember(this.current);
      this.current = { version, dir, loadedAt: new Date().toISOString(), nodes: nodes.length };
      this.remember(this.current);
      this.lastError = undefined;
      return true;
    } catch (err) {
      const raw =
        err instanceof ManifestErrors ? err.errors.map((e) => e.format()).join('\n') : err instanceof TsconvergeError ? err.format() : (err as Error).message;
      // Errors name the files of the fleet tree the operator edits, not of the snapshot.
      const message = version ? raw.split(path.join(this.opts.stateDir, 'code', version.slice(7, 23))).join(this.opts.fleet) : raw;
      this.lastError = { at: new Date().toISOString(), version, message };
      return false;
    }
  }

  private remember(v: CodeVersion): void {
    this.known.delete(v.version);
    this.known.set(v.version, v);
    // A rollout needs two versions; a few more cost nothing but the memo of their snapshots.
    while (this.known.size > 4) this.known.delete(this.known.keys().next().value!);
  }

  /**
   * A code version this server loaded, or one of its snapshots in STATE_DIR/code (a server
   * restarted mid-rollout serves the previous version from there). Undefined when this
   * server has never had it (a replica started after the rollout began, with another state dir).
   */
  async version(version: string): Promise<CodeVersion | undefined> {
    if (this.current?.version === version) return this.current;
    const known = this.known.get(version);
    if (known) return known;
    if (!/^sha256:[0-9a-f]{64}$/.test(version)) return undefined;
    const dir = path.join(this.opts.stateDir, 'code', version.slice(7, 23));
    if (
      !(await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    )
      return undefined;
    // A snapshot is what was hashed, or it is not used.
    if ((await treeVersion(dir).catch(() => undefined)) !== version) return undefined;
    freezeTree(dir);
    const v: CodeVersion = { version, dir, loadedAt: new Date().toISOString(), nodes: 0 };
    this.remember(v);
    return v;
  }

  /**
   * Compile (or take from the cache) the signed catalogue of `node`, of the served code or
   * of `version` (code.version()). Throws ManifestErrors / TsconvergeError.
   */
  async compile(node: string, rawFacts: Record<string, unknown>, factsHash?: string, version?: CodeVersion): Promise<Compiled> {
    const code = version ?? this.current;
    if (!code)
      throw new TsconvergeError('MANIFEST_NOT_FOUND', 'the server has no fleet code that compiles yet', {
        hint: 'fix the fleet tree and send the server SIGHUP',
      });
    const facts: Record<string, unknown> = {
      ...rawFacts,
      hostname: node,
      fqdn: typeof rawFacts.fqdn === 'string' && rawFacts.fqdn.split('.')[0] === node ? rawFacts.fqdn : node,
    };
    for (const f of VOLATILE_FACTS) delete facts[f];
    // A hash of the facts as sent (the route passes the one it made); another key order only costs a compile.
    const key = `${code.version}\0${node}\0${factsHash ?? createHash('sha256').update(JSON.stringify(facts)).digest('hex')}`;
    const hit = this.cache.get(key);
    // A node that got another catalogue since this one was cached (a rollout's other version,
    // other facts) gets it issued again: agents refuse a catalogue issued before the one they hold.
    const last = this.issued.get(node);
    if (hit && (last === undefined || last.catalogueVersion === hit.catalogueVersion)) return hit;
    let running = this.inflight.get(key);
    if (!running) {
      running = this.compileNow(code, node, facts).finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    const out = await running;
    if (this.cache.size >= (this.opts.cacheSize ?? 20_000)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, out);
    return out;
  }

  private async compileNow(code: CodeVersion, node: string, facts: Record<string, unknown>): Promise<Compiled> {
    const t0 = performance.now();
    // A compile that fails in a worker is done again here, for the full errors (a 422 lists them).
    let workerError: Error | undefined;
    const prior = this.issued.get(node);
    let c: (Compiled & Issued) | undefined;
    if (this.pool && this.workerFailures < 3) {
      c = await this.pool.compile(code.dir, code.version, node, facts, prior).catch((err: Error) => {
        workerError = err;
        return undefined;
      });
      if (c) this.workerFailures = 0;
    }
    c ??= await this.compiler.compile(code.dir, code.version, node, facts, prior);
    // Three working catalogues in a row that failed in a worker: the workers are broken; compile here from now on.
    if (workerError && ++this.workerFailures === 3)
      this.opts.onWorkerError?.('compile workers disabled after 3 failures in a row; compiling in the main thread');
    if (prior?.catalogueVersion !== c.catalogueVersion) this.issued.set(node, { catalogueVersion: c.catalogueVersion, issuedAt: c.issuedAt });
    const out: Compiled = { body: c.body, etag: c.etag, signature: c.signature, catalogueVersion: c.catalogueVersion, codeVersion: c.codeVersion };
    // Compiled here after failing in a worker: the worker is broken, not the catalogue.
    if (workerError) this.opts.onWorkerError?.(`compile worker failed on ${node}, compiled in the main thread: ${workerError.message}`);
    this.opts.onCompile?.((performance.now() - t0) / 1000);
    return out;
  }
}
