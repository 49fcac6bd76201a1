/**
 * Who is asking: the client certificate of the TLS connection, checked on every request.
 * The node's name is the certificate's CN, never anything the request says. Revoked
 * serials are refused from the next request on (ca.ts createRevocationCheck).
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NODE_NAME, OPERATOR_ORG } from './ca.js';

export type Identity = { readonly kind: 'node' | 'operator'; readonly name: string };

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
  interface FastifyContextConfig {
    auth?: 'none' | 'node' | 'operator' | 'node-or-operator';
  }
}

const field = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? undefined : v);

/** The identity of the connection's client certificate, or why there is none. */
export function identify(req: FastifyRequest, isRevoked: (serial: string) => boolean): Identity | { error: string; code: 401 | 403 } {
  const sock = req.raw.socket as TLSSocket;
  // The peer certificate is fixed for the life of a TLS connection: read it once per connection.
  let peer = peers.get(sock);
  if (!peer) {
    peer = peerOf(sock);
    peers.set(sock, peer);
  }
  if ('error' in peer) return peer;
  // Revocation is checked on every request: a revoked certificate is refused on its next one.
  if (isRevoked(peer.serial)) return { error: 'client certificate refused: revoked', code: 401 };
  return peer.identity;
}

type Peer = { readonly serial: string; readonly identity: Identity | { error: string; code: 401 | 403 } } | { error: string; code: 401 | 403 };
const peers = new WeakMap<object, Peer>();

function peerOf(sock: TLSSocket): Peer {
  const cert = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
  if (!cert || !cert.subject) return { error: 'a client certificate is required (enrol first)', code: 401 };
  if (!sock.authorized) return { error: `client certificate refused: ${String(sock.authorizationError ?? 'not issued by this CA')}`, code: 401 };
  const cn = field(cert.subject.CN);
  const org = field(cert.subject.O);
  const serial = cert.serialNumber;
  if (cn === undefined) return { serial, identity: { error: 'client certificate has no single CN', code: 403 } };
  if (org === OPERATOR_ORG) return { serial, identity: { kind: 'operator', name: cn } };
  if (org !== undefined || !NODE_NAME.test(cn)) return { serial, identity: { error: 'client certificate is not a node certificate', code: 403 } };
  return { serial, identity: { kind: 'node', name: cn } };
}

/** onRequest hook: enforce the route's `config.auth`. Per-node routes (`:node`) admit only that node (and operators for reads). */
export function createAuthHook(isRevoked: (serial: string) => boolean) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const auth = req.routeOptions.config.auth ?? 'node-or-operator';
    if (auth === 'none') return;
    const id = identify(req, isRevoked);
    if ('error' in id) {
      await reply.code(id.code).send({ error: id.error });
      return;
    }
    req.identity = id;
    if (auth === 'operator' && id.kind !== 'operator') {
      await reply.code(403).send({ error: 'forbidden: an operator certificate is required' });
      return;
    }
    if (auth === 'node' && id.kind !== 'node') {
      await reply.code(403).send({ error: 'forbidden: a node certificate is required' });
      return;
    }
    const node = (req.params as { node?: string } | undefined)?.node;
    if (node !== undefined && id.kind === 'node' && node !== id.name) {
      await reply.code(403).send({ error: 'forbidden: a node sees only itself' });
      return;
    }
  };
}
