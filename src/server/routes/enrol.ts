/**
 * Enrolment, the only routes besides health that answer without a client certificate:
 *   GET  /v1/ca                          the CA certificate (agents check it against their pinned fingerprint)
 *   PUT  /v1/certificate_requests/:node  { csr, token? } -> 200 { state: signed, certificate } | 202 { state: pending }
 *   GET  /v1/certificates/:node          200 { certificate } once signed, 404 { state: pending | unknown }
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { caPaths, consumeJoinToken, NODE_NAME, policyAllows, submitCsr, type Ca } from '../ca.js';
import { TsconvergeError } from '../../core/errors.js';

export interface EnrolOptions { readonly ca: Ca; readonly autosignPolicy?: string }

const nodeParam = { type: 'object', required: ['node'], properties: { node: { type: 'string', pattern: NODE_NAME.source } } } as const;

export const enrolRoutes: FastifyPluginAsync<EnrolOptions> = async (app, { ca, autosignPolicy }) => {
  const none = { auth: 'none' as const };
  app.get('/v1/ca', { config: none }, async (_req, reply) => reply.type('application/x-pem-file').send(ca.certPem));

  app.put<{ Params: { node: string }; Body: { csr: string; token?: string } }>('/v1/certificate_requests/:node', {
    config: none, bodyLimit: 16 * 1024,
    schema: { params: nodeParam, body: { type: 'object', required: ['csr'], additionalProperties: false, properties: { csr: { type: 'string', maxLength: 8192 }, token: { type: 'string', maxLength: 200 } } } },
  }, async (req, reply) => {
    const { node } = req.params;
    try {
      const byPolicy = await policyAllows(autosignPolicy, node);
      const byToken = !byPolicy && req.body.token !== undefined && await consumeJoinToken(ca.dir, req.body.token);
      const out = await submitCsr(ca, node, req.body.csr, byPolicy || byToken);
      return reply.code(out.state === 'signed' ? 200 : 202).send(out);
    } catch (err) {
      if (err instanceof TsconvergeError && err.code === 'CERT_REFUSED') {
        return reply.code(/already/.test(err.message) ? 409 : 400).send({ error: err.message, hint: err.hint });
      }
      throw err;
    }
  });

  app.get<{ Params: { node: string } }>('/v1/certificates/:node', { config: none, schema: { params: nodeParam } }, async (req, reply) => {
    const p = caPaths(ca.dir);
    const cert = await readFile(path.join(p.signed, `${req.params.node}.crt`), 'utf8').catch(() => undefined);
    if (cert !== undefined) return reply.send({ state: 'signed', certificate: cert });
    const pending = await readFile(path.join(p.requests, `${req.params.node}.csr`), 'utf8').then(() => true, () => false);
    return reply.code(404).send({ state: pending ? 'pending' : 'unknown' });
  });
};
