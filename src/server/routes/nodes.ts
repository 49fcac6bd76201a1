/**
 * Per-node data and the fleet view:
 *   PUT  /v1/nodes/:node/facts     { facts }         the node itself (spec/wire/facts.schema.json)
 *   GET  /v1/nodes/:node/facts                       the node itself or an operator
 *   POST /v1/nodes/:node/reports   a run report      the node itself (spec/wire/report.schema.json)
 *   GET  /v1/nodes/:node/reports?limit=N             the node itself or an operator
 *   GET  /v1/nodes/:node/status                      the node itself or an operator
 *   GET  /v1/nodes?limit=N&after=NAME                operators: a page of nodes by name with their status (default
 *                                                    and at most 1,000), `next` (the `after` of the following page)
 *                                                    while there is one, the counts by status of the whole fleet, the served code
 * Bodies are checked at the door (door.ts); `:node` must be a node name (400 otherwise).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { CodeManager } from '../code.js';
import type { ServerMetrics } from '../metrics.js';
import type { Store } from '../store.js';
import { checkBody, FACTS_BODY_LIMIT, NODE_PARAMS, REPORT_BODY_LIMIT } from '../door.js';
import type { NodeFacts, NodeReport } from '../../generated/wire.js';

export interface NodeRouteOptions {
  readonly code: CodeManager;
  readonly store: Store;
  readonly metrics: ServerMetrics;
  readonly agentIntervalSeconds: number;
}

/** No report within two agent intervals: unresponsive (GET /v1/nodes, the dashboard, the fleet gauges). */
/** Nodes in one page of GET /v1/nodes (the default and the most). */
export const NODES_PAGE_MAX = 1000;

export const unresponsiveAfterMs = (agentIntervalSeconds: number): number => 2 * agentIntervalSeconds * 1000;

export const nodeRoutes: FastifyPluginAsync<NodeRouteOptions> = async (app, { code, store, metrics, agentIntervalSeconds }) => {
  const unresponsiveAfter = unresponsiveAfterMs(agentIntervalSeconds);
  const params = { params: NODE_PARAMS };
  app.put<{ Params: { node: string }; Body: { facts: NodeFacts } }>(
    '/v1/nodes/:node/facts',
    {
      config: { auth: 'node' },
      bodyLimit: FACTS_BODY_LIMIT,
      schema: params,
      preValidation: checkBody('facts'),
    },
    async (req, reply) => {
      await store.putFacts(req.identity!.name, req.body.facts);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/facts', { schema: params }, async (req, reply) => {
    const f = await store.getFacts(req.params.node);
    return f ? reply.send({ node: req.params.node, facts: f.facts, at: f.at }) : reply.code(404).send({ error: `no facts for ${req.params.node}` });
  });

  app.post<{ Params: { node: string }; Body: NodeReport }>(
    '/v1/nodes/:node/reports',
    {
      config: { auth: 'node' },
      bodyLimit: REPORT_BODY_LIMIT,
      schema: params,
      preValidation: [
        async (req, reply) => {
          // Another node's name in the report is refused as such (403), whatever else is wrong with it.
          const claimed = (req.body as { node?: unknown } | null)?.node;
          if (claimed !== undefined && claimed !== req.identity!.name)
            return reply.code(403).send({ error: `a report for ${JSON.stringify(claimed).slice(0, 300)} cannot come from ${req.identity!.name}` });
        },
        checkBody('report'),
      ],
    },
    async (req, reply) => {
      const node = req.identity!.name;
      const out = await store.addReport(node, { ...req.body, node });
      metrics.reportsStored.inc();
      return reply.code(201).send(out);
    },
  );

  app.get<{ Params: { node: string }; Querystring: { limit?: number } }>(
    '/v1/nodes/:node/reports',
    {
      schema: { ...params, querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } } } },
    },
    async (req) => ({ node: req.params.node, reports: await store.listReports(req.params.node, req.query.limit ?? 20) }),
  );

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/status', { schema: params }, async (req, reply) => {
    const row = await store.getNode(req.params.node, unresponsiveAfter);
    return row ? reply.send(row) : reply.code(404).send({ error: `unknown node ${req.params.node}` });
  });

  app.get<{ Querystring: { limit?: number; after?: string } }>(
    '/v1/nodes',
    {
      config: { auth: 'operator' },
      schema: {
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: NODES_PAGE_MAX }, after: { type: 'string', maxLength: 300 } },
          additionalProperties: false,
        },
      },
    },
    async (req) => {
      const [page, counts] = await Promise.all([
        store.nodesPage({ unresponsiveAfterMs: unresponsiveAfter, limit: req.query.limit ?? NODES_PAGE_MAX, after: req.query.after }),
        store.countNodes(unresponsiveAfter),
      ]);
      return {
        code: {
          ...(code.current ? { version: code.current.version, loadedAt: code.current.loadedAt } : {}),
          ...(code.lastError ? { error: code.lastError } : {}),
        },
        agentIntervalSeconds,
        counts: { total: counts.total, ...counts.byStatus, cachedCatalogue: counts.cached },
        nodes: page.nodes,
        ...(page.next !== undefined ? { next: page.next } : {}),
      };
    },
  );
};
