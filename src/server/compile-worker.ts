/**
 * A compile worker thread of the catalogue server (compile-pool.ts): compiles, serialises
 * and signs node catalogues with the same Compiler as the main thread. Each worker keeps
 * its own memo of the frozen snapshots (treefs.ts), so parsed modules, templates and data
 * are shared by every compile it does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BUILTIN_MODULES } from '../catalogue/fleet.js';
import { freezeTree, thawTree } from '../catalogue/treefs.js';
import { Compiler } from './compiler.js';
import type { CompileJob, CompileReply, WorkerInit } from './compile-pool.js';

const init = workerData as WorkerInit;
const compiler = new Compiler({ environment: init.environment, secrets: { dir: init.secretsDir }, serverKeyPem: init.serverKeyPem });
freezeTree(BUILTIN_MODULES);
const frozenDirs: string[] = [];

parentPort!.on('message', (job: CompileJob) => {
  if (!frozenDirs.includes(job.dir)) {
    freezeTree(job.dir);
    frozenDirs.push(job.dir);
    // The two newest snapshots stay memoised (the one served and, during a reload, the one before).
    while (frozenDirs.length > 2) thawTree(frozenDirs.shift()!);
  }
  compiler.compile(job.dir, job.version, job.node, job.facts, job.prior).then(
    (c) => {
      const reply: CompileReply = {
        id: job.id,
        ok: true,
        body: c.body,
        etag: c.etag,
        signature: c.signature,
        catalogueVersion: c.catalogueVersion,
        issuedAt: c.issuedAt,
      };
      parentPort!.postMessage(reply);
    },
    (err: unknown) => {
      const reply: CompileReply = { id: job.id, ok: false, message: (err as Error).message };
      parentPort!.postMessage(reply);
    },
  );
});
