/**
 * The catalogue as the server sends it and the agent keeps it: JSON bytes, signed by the
 * server's key (itself signed by the CA). The signature covers the exact bytes, so the
 * agent verifies before it parses anything it will apply.
 *
 *   200 body        CatalogueDocument as JSON
 *   ETag            "sha256:HEX" of the body
 *   x-tsconverge-signature   base64 ECDSA-SHA256 signature over the body
 *   x-tsconverge-signer      base64 DER of the signing certificate (chains to the CA)
 */
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import type { Catalogue, CatalogueResource, Relation } from '../core/types.js';
import type { FleetCatalogue } from '../catalogue/fleet.js';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import path from 'node:path';

export const SIGNATURE_HEADER = 'x-tsconverge-signature';
export const SIGNER_HEADER = 'x-tsconverge-signer';
/**
 * The extended key usage that lets a certificate sign catalogues: the CA sets it on the
 * server's certificate only (ca.ts), never on a node's or an operator's, whatever a request
 * asks; agents require it of every catalogue's signer. An OID under 2.25 (ITU-T X.667: a
 * UUID as an OID, no registration needed).
 */
export const CATALOGUE_SIGNING_OID = '2.25.198501800842061229025900627751675606144';
/** How far ahead of the agent's clock a catalogue's issuedAt may be (clock skew); later is refused. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface WireResource {
  readonly id: string;
  readonly kind: string;
  readonly name: string;
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly relations: Readonly<Record<Relation, readonly string[]>>;
  readonly sensitive: readonly string[];
  readonly source?: SourceLocation;
}

export interface CatalogueDocument {
  readonly formatVersion: 1;
  readonly node: string;
  readonly environment: string;
  readonly role: string;
  readonly modules: readonly string[];
  /** The catalogue's content hash (Catalogue.version). */
  readonly version: string;
  /** The fleet tree version the server compiled from. */
  readonly codeVersion: string;
  /** When the server first compiled this catalogue (agents refuse one older than they applied). */
  readonly issuedAt: string;
  readonly resources: readonly WireResource[];
}

/** `fc` needs only what the document carries (push builds one for a plain manifest directory too). */
export function toDocument(
  fc: Pick<FleetCatalogue, 'root' | 'node' | 'environment' | 'role' | 'modules' | 'catalogue'>,
  codeVersion: string,
  issuedAt: string,
): CatalogueDocument {
  const rel = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.relative(fc.root, f).split(path.sep).join('/'));
  return {
    formatVersion: 1,
    node: fc.node,
    environment: fc.environment,
    role: fc.role,
    modules: fc.modules,
    version: fc.catalogue.version,
    codeVersion,
    issuedAt,
    resources: fc.catalogue.resources.map((r) => ({
      id: r.id,
      kind: r.kind,
      name: r.name,
      attrs: r.attrs,
      relations: r.relations,
      sensitive: r.sensitive,
      ...(r.source ? { source: { ...r.source, file: rel(r.source.file)! } } : {}),
    })),
  };
}

export function bodyDigest(body: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(body).digest('hex');
}

function refused(message: string, hint?: string): TsconvergeError {
  return new TsconvergeError('CATALOGUE_REFUSED', message, {
    terminal: true,
    hint: hint ?? 'nothing was applied; check the server and the CA this agent pins',
  });
}

/**
 * Verify `body` against `signature` made by `signerDer`, which must be signed by `caPem`,
 * valid now, and the server's: it carries the catalogue-signing purpose
 * (CATALOGUE_SIGNING_OID), which no node or operator certificate has. Throws
 * CATALOGUE_REFUSED; returns nothing on success.
 */
export function verifySignedBody(body: Uint8Array, signatureB64: string | undefined, signerB64: string | undefined, caPem: string): void {
  if (!signatureB64 || !signerB64) throw refused('the catalogue carries no signature');
  let signer: X509Certificate;
  try {
    signer = new X509Certificate(Buffer.from(signerB64, 'base64'));
  } catch {
    throw refused("the catalogue's signing certificate cannot be read");
  }
  const ca = new X509Certificate(caPem);
  if (!signer.checkIssued(ca) || !signer.verify(ca.publicKey)) throw refused('the catalogue is signed by a certificate that the pinned CA did not issue');
  const now = Date.now();
  if (Date.parse(signer.validFrom) > now || Date.parse(signer.validTo) < now) throw refused("the catalogue's signing certificate is not valid now");
  if (signer.ca || !(signer.keyUsage ?? []).includes(CATALOGUE_SIGNING_OID)) {
    throw refused(
      `the catalogue is signed by ${signer.subject.split('\n').join(', ')}, a certificate that may not sign catalogues (only the server's certificate carries the catalogue-signing purpose)`,
      "nothing was applied. A node or operator key signed it (a relay or a compromised host); or the server's certificate predates that purpose: restart the server (it issues its certificate again) or run `tsconverge ca reissue-server`",
    );
  }
  if (!verify('sha256', body, createPublicKey(signer.publicKey.export({ format: 'pem', type: 'spki' })), Buffer.from(signatureB64, 'base64'))) {
    throw refused("the catalogue's signature does not match its bytes (tampered or corrupted)");
  }
}

/** Parse a verified body and check it is for `node` and not issued in the future (beyond MAX_CLOCK_SKEW_MS); throws CATALOGUE_REFUSED. */
export function parseDocument(body: Uint8Array, node: string, nowMs = Date.now()): CatalogueDocument {
  let doc: CatalogueDocument;
  try {
    doc = JSON.parse(Buffer.from(body).toString('utf8')) as CatalogueDocument;
  } catch {
    throw refused('the catalogue is not JSON');
  }
  if (doc?.formatVersion !== 1 || !Array.isArray(doc.resources)) throw refused('the catalogue has an unknown format');
  if (doc.node !== node) throw refused(`the catalogue is for node ${JSON.stringify(doc.node)}, not ${node}`);
  const issued = typeof doc.issuedAt === 'string' ? Date.parse(doc.issuedAt) : NaN;
  if (Number.isNaN(issued)) throw refused('the catalogue has no valid issuedAt');
  if (issued > nowMs + MAX_CLOCK_SKEW_MS) {
    throw refused(
      `the catalogue is issued in the future (${doc.issuedAt}; this host's time is ${new Date(nowMs).toISOString()}, and ${MAX_CLOCK_SKEW_MS / 60_000} minutes of clock skew are allowed)`,
      "nothing was applied: a forged or replayed catalogue, or the server's clock runs ahead (check the time on both hosts)",
    );
  }
  return doc;
}

/** The engine's Catalogue from a verified document. */
export function catalogueOf(doc: CatalogueDocument): Catalogue {
  const resources: CatalogueResource[] = doc.resources.map((r) => {
    const source = r.source;
    return {
      kind: r.kind,
      name: r.name,
      id: r.id,
      attrs: r.attrs,
      sensitive: [...r.sensitive],
      relations: r.relations,
      source,
      locate: (pointer: string) => ({ file: source?.file ?? `catalogue ${doc.version}`, line: source?.line, column: source?.column, pointer }),
    } as CatalogueResource;
  });
  return Object.freeze({ version: doc.version, resources, byId: new Map(resources.map((r) => [r.id, r])) });
}
