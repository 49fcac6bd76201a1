/**
 * Per-node data and the fleet view:
 *   PUT  /v1/nodes/:node/facts     { facts }         the node itself
 *   GET  /v1/nodes/:node/facts                       the node itself or an operator
 *   POST /v1/nodes/:node/reports   a run report      the node itself
 *   GET  /v1/nodes/:node/reports?limit=N             the node itself or an operator
 *   GET  /v1/nodes/:node/status                      the node itself or an operator
 *   GET  /v1/nodes                                   operators: every node with its status, and the served code
 */
import type { FastifyPluginAsync } from 'fastify';
import type { CodeManager } from '../code.js';
import type { ServerMetrics } from '../metrics.js';
import type { Store } from '../store.js';
import { FACTS_SCHEMA } from './catalogue.js';

export interface NodeRouteOptions { readonly code: CodeManager; readonly store: Store; readonly metrics: ServerMetrics; readonly agentIntervalSeconds: number }

/** No report within two agent intervals: unresponsive (GET /v1/nodes, the dashboard, the fleet gauges). */
export const unresponsiveAfterMs = (agentIntervalSeconds: number): number => 2 * agentIntervalSeconds * 1000;

export const nodeRoutes: FastifyPluginAsync<NodeRouteOptions> = async (app, { code, store, metrics, agentIntervalSeconds }) => {
  const unresponsiveAfter = unresponsiveAfterMs(agentIntervalSeconds);
  app.put<{ Params: { node: string }; Body: { facts: Record<string, unknown> } }>('/v1/nodes/:node/facts', {
    config: { auth: 'node' }, bodyLimit: 256 * 1024,
    schema: { body: { type: 'object', required: ['facts'], properties: { facts: FACTS_SCHEMA } } },
  }, async (req, reply) => {
    await store.putFacts(req.identity!.name, req.body.facts);
    return reply.code(204).send();
  });

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/facts', async (req, reply) => {
    const f = await store.getFacts(req.params.node);
    return f ? reply.send({ node: req.params.node, facts: f.facts, at: f.at }) : reply.code(404).send({ error: `no facts for ${req.params.node}` });
  });

  app.post<{ Params: { node: string }; Body: Record<string, unknown> }>('/v1/nodes/:node/reports', {
    config: { auth: 'node' }, bodyLimit: 4 * 1024 * 1024,
    schema: { body: { type: 'object', required: ['formatVersion'], properties: { formatVersion: { type: 'integer' }, node: { type: 'string' }, summary: { type: 'object' }, resources: { type: 'array' } } } },
  }, async (req, reply) => {
    const node = req.identity!.name;
    if (req.body.node !== undefined && req.body.node !== node) return reply.code(403).send({ error: `a report for ${String(req.body.node)} cannot come from ${node}` });
    const out = await store.addReport(node, { ...req.body, node });
    metrics.reportsStored.inc();
    return reply.code(201).send(out);
  });

  app.get<{ Params: { node: string }; Querystring: { limit?: number } }>('/v1/nodes/:node/reports', {
    schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } } } },
  }, async (req) => ({ node: req.params.node, reports: await store.listReports(req.params.node, req.query.limit ?? 20) }));

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/status', async (req, reply) => {
    const row = (await store.listNodes(unresponsiveAfter)).find((n) => n.node === req.params.node);
    return row ? reply.send(row) : reply.code(404).send({ error: `unknown node ${req.params.node}` });
  });

  app.get('/v1/nodes', { config: { auth: 'operator' } }, async () => ({
    code: { ...(code.current ? { version: code.current.version, loadedAt: code.current.loadedAt } : {}), ...(code.lastError ? { error: code.lastError } : {}) },
    agentIntervalSeconds,
    nodes: await store.listNodes(unresponsiveAfter),
  }));
};
