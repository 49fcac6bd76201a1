/**
 * Enrolment, the only routes besides health that answer without a client certificate:
 *   GET  /v1/ca                          the CA certificate (agents check it against their pinned fingerprint)
 *   PUT  /v1/certificate_requests/:node  { csr, token? } -> 200 { state: signed, certificate } | 202 { state: pending }
 *   GET  /v1/certificates/:node          200 { certificate } once signed, 404 { state: pending | unknown }
 * The body is checked at the door (door.ts, spec/wire/certificate-request.schema.json). A
 * join token is used up only by a request that is signed: a refused one leaves it valid.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { caPaths, policyAllows, submitCsr, type Ca, type SubmitResult } from '../ca.js';
import { checkBody, CSR_BODY_LIMIT, NODE_PARAMS } from '../door.js';
import { withJoinToken } from '../join-tokens.js';
import { TsconvergeError } from '../../core/errors.js';
import type { CertificateRequestBody } from '../../generated/wire.js';

export interface EnrolOptions {
  readonly ca: Ca;
  readonly autosignPolicy?: string;
}

export const enrolRoutes: FastifyPluginAsync<EnrolOptions> = async (app, { ca, autosignPolicy }) => {
  const none = { auth: 'none' as const };
  app.get('/v1/ca', { config: none }, async (_req, reply) => reply.type('application/x-pem-file').send(ca.certPem));

  app.put<{ Params: { node: string }; Body: CertificateRequestBody }>(
    '/v1/certificate_requests/:node',
    {
      config: none,
      bodyLimit: CSR_BODY_LIMIT,
      schema: { params: NODE_PARAMS },
      preValidation: checkBody('csr'),
    },
    async (req, reply) => {
      const { node } = req.params;
      const { csr, token } = req.body;
      try {
        const submit = (autosign: boolean): Promise<SubmitResult> => submitCsr(ca, node, csr, autosign);
        const byPolicy = await policyAllows(autosignPolicy, node);
        const out =
          byPolicy || token === undefined
            ? await submit(byPolicy)
            : await withJoinToken(ca.dir, token, async (valid) => {
                const r = await submit(valid);
                return { value: r, spent: valid && r.state === 'signed' };
              });
        return reply.code(out.state === 'signed' ? 200 : 202).send(out);
      } catch (err) {
        if (err instanceof TsconvergeError && err.code === 'CERT_REFUSED') {
          return reply.code(/already/.test(err.message) ? 409 : 400).send({ error: err.message, hint: err.hint });
        }
        throw err;
      }
    },
  );

  app.get<{ Params: { node: string } }>('/v1/certificates/:node', { config: none, schema: { params: NODE_PARAMS } }, async (req, reply) => {
    const p = caPaths(ca.dir);
    const cert = await readFile(path.join(p.signed, `${req.params.node}.crt`), 'utf8').catch(() => undefined);
    if (cert !== undefined) return reply.send({ state: 'signed', certificate: cert });
    const pending = await readFile(path.join(p.requests, `${req.params.node}.csr`), 'utf8').then(
      () => true,
      () => false,
    );
    return reply.code(404).send({ state: pending ? 'pending' : 'unknown' });
  });
};
