/**
 * The rollout, for operators (rollout.ts, docs/rollout.md):
 *   GET  /v1/rollout                   the stable version, the rollout with its waves and nodes, the audit trail
 *   POST /v1/rollout/promote {all?}    the next wave now; `all: true`: every node now (recorded with the certificate's name)
 *   POST /v1/rollout/halt              stop promoting
 *   POST /v1/rollout/revert            every node of the rollout back on the previous version
 * Every route needs an operator certificate; the audit trail names its CN.
 */
import type { FastifyPluginAsync } from 'fastify';
import { RolloutError, type Rollouts } from '../rollout.js';
import type { Store } from '../store.js';
import { unresponsiveAfterMs } from './nodes.js';

export interface RolloutRouteOptions {
  readonly rollouts: Rollouts;
  readonly store: Store;
  readonly agentIntervalSeconds: number;
}

export const rolloutRoutes: FastifyPluginAsync<RolloutRouteOptions> = async (app, { rollouts, store, agentIntervalSeconds }) => {
  const config = { auth: 'operator' as const };
  const status = async (): Promise<unknown> => rollouts.status(await store.listNodes(unresponsiveAfterMs(agentIntervalSeconds)));
  app.get('/v1/rollout', { config }, status);
  const act =
    (fn: (actor: string, body: { all?: boolean }) => Promise<unknown>) =>
    async (req: { identity?: { name: string }; body?: unknown }, reply: { code(n: number): { send(b: unknown): unknown } }): Promise<unknown> => {
      try {
        await fn(`operator:${req.identity!.name}`, (req.body ?? {}) as { all?: boolean });
      } catch (err) {
        if (err instanceof RolloutError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
      return status();
    };
  const body = { type: 'object', additionalProperties: false, properties: { all: { type: 'boolean' } } };
  app.post(
    '/v1/rollout/promote',
    { config, schema: { body } },
    act((actor, b) => rollouts.promote(actor, b.all === true)),
  );
  app.post(
    '/v1/rollout/halt',
    { config },
    act((actor) => rollouts.halt(actor)),
  );
  app.post(
    '/v1/rollout/revert',
    { config },
    act((actor) => rollouts.revert(actor)),
  );
};
