/**
 * POST /v1/nodes/:node/catalogue  { facts }  (that node's certificate only; facts checked at the door, door.ts)
 *   200 the signed catalogue (wire.ts), ETag = digest of the body
 *   304 no body, when If-None-Match names the current ETag
 *   422 the node's catalogue does not compile (errors, secrets never included)
 *   503 the code version a rollout gives this node is not on this server (rollout.ts)
 * The facts are stored (when they changed) and fill parameters and templates; the node
 * name, and so the classification, comes from the certificate.
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { ManifestErrors, TsconvergeError } from '../../core/errors.js';
import { VOLATILE_FACTS, type CodeManager } from '../code.js';
import type { ServerMetrics } from '../metrics.js';
import type { Store } from '../store.js';
import type { Rollouts } from '../rollout.js';
import { SIGNATURE_HEADER, SIGNER_HEADER } from '../wire.js';
import { boundedJsonParser, checkBody, FACTS_BODY_LIMIT, NODE_PARAMS } from '../door.js';
import type { NodeFacts } from '../../generated/wire.js';

export interface CatalogueRouteOptions {
  readonly code: CodeManager;
  readonly store: Store;
  readonly metrics: ServerMetrics;
  readonly rollouts?: Rollouts;
  readonly signerDerB64: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    bodyHash?: string;
  }
}

export const catalogueRoutes: FastifyPluginAsync<CatalogueRouteOptions> = async (app, { code, store, metrics, rollouts, signerDerB64 }) => {
  const lastFacts = new Map<string, string>();
  // The server's bounded parser (door.ts), plus a hash of the raw bytes (this plugin's routes
  // only): an agent that sends no volatile facts sends the same bytes while its facts do not
  // change, and that hash stands for the facts without serialising them again on the warm path.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    boundedJsonParser(app, (req, raw) => {
      req.bodyHash = createHash('sha256').update(raw).digest('hex');
    }),
  );
  app.post<{ Params: { node: string }; Body: { facts: NodeFacts } }>(
    '/v1/nodes/:node/catalogue',
    {
      config: { auth: 'node' },
      bodyLimit: FACTS_BODY_LIMIT,
      schema: { params: NODE_PARAMS },
      preValidation: checkBody('facts'),
    },
    async (req, reply) => {
      const node = req.identity!.name;
      const facts = req.body.facts;
      let factsHash: string;
      if (VOLATILE_FACTS.some((f) => f in facts)) {
        const stable = { ...facts };
        for (const f of VOLATILE_FACTS) delete stable[f];
        factsHash = createHash('sha256').update(JSON.stringify(stable)).digest('hex');
      } else factsHash = req.bodyHash!;
      if (lastFacts.get(node) !== factsHash) {
        await store.putFacts(node, req.body.facts);
        lastFacts.set(node, factsHash);
      }
      // A rollout (rollout.ts) decides which of its two code versions this node gets; from memory, no query.
      const wanted = rollouts?.versionFor(node);
      const version = wanted === undefined ? undefined : await code.version(wanted);
      if (wanted !== undefined && version === undefined && rollouts!.strict) {
        // Serving this node any other version would break the rollout: it runs on its cached catalogue meanwhile.
        metrics.catalogueAnswers.inc({ result: 'error' });
        return reply.code(503).send({
          error: `code version ${wanted.slice(0, 19)}, which the rollout gives ${node}, is not on this server (a replica started after the rollout began?)`,
          codeVersion: wanted,
        });
      }
      let out;
      try {
        out = await code.compile(node, req.body.facts, factsHash, version);
      } catch (err) {
        metrics.catalogueAnswers.inc({ result: 'error' });
        const list = err instanceof ManifestErrors ? err.errors : err instanceof TsconvergeError ? [err] : undefined;
        if (!list) throw err;
        return reply
          .code(422)
          .send({ error: `the catalogue of ${node} does not compile`, errors: list.map((e) => e.toJSON()), codeVersion: code.current?.version });
      }
      reply.header('etag', `"${out.etag}"`).header('x-tsconverge-code-version', out.codeVersion);
      const inm = req.headers['if-none-match'];
      if (
        inm !== undefined &&
        inm
          .split(',')
          .map((s) => s.trim().replace(/^W\//, ''))
          .includes(`"${out.etag}"`)
      ) {
        metrics.catalogueAnswers.inc({ result: '304' });
        return reply.code(304).send();
      }
      metrics.catalogueAnswers.inc({ result: '200' });
      await store.touch(node, out.catalogueVersion, out.codeVersion);
      return reply.header(SIGNATURE_HEADER, out.signature).header(SIGNER_HEADER, signerDerB64).type('application/json').send(out.body);
    },
  );
};
