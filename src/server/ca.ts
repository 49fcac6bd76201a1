/**
 * The built-in certificate authority of the catalogue server (ECDSA P-256, @peculiar/x509
 * over WebCrypto; no hand-written ASN.1).
 *
 *   CA_DIR/ca.key, ca.crt            the CA (key 0600)
 *   CA_DIR/server.key, server.crt    the server's TLS and catalogue-signing key, signed by the CA
 *   CA_DIR/operator.key, .crt        an operator certificate (GET /v1/nodes, `tsconverge nodes`)
 *   CA_DIR/requests/NODE.csr         certificate requests waiting for `tsconverge ca sign NODE`
 *   CA_DIR/signed/NODE.crt           signed node certificates
 *   CA_DIR/revoked.json              revoked serials, checked by the server on every request
 *   CA_DIR/tokens.json               one-time join tokens (sha256 of each), see join-tokens.ts
 *
 * A node certificate's subject is `CN=NODE` and nothing else, whatever the request
 * asked for; operators carry `O=tsconverge-operators`, which a node can never obtain.
 * Only the server's certificate carries the catalogue-signing purpose
 * (CATALOGUE_SIGNING_OID in its extended key usage): agents accept a catalogue only when
 * its signer has it, so no node or operator key can sign one.
 */
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs it loaded first
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { statSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { TsconvergeError } from '../core/errors.js';
import { CATALOGUE_SIGNING_OID } from './wire.js';

export { CATALOGUE_SIGNING_OID };

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
export const OPERATOR_ORG = 'tsconverge-operators';
/**
 * The longest node name: a node's name is also a file name with a suffix of up to five
 * characters (data/nodes/NODE.yaml, signed/NODE.crt, ssl/NODE.key), and a file name holds
 * 255 bytes. Routes accept names this long (fastify's maxParamLength), so does the dashboard.
 */
export const NODE_NAME_MAX = 250;
/** Lower-case DNS-style names: one spelling per node, so a certificate names one node. */
export const NODE_NAME = new RegExp(`^(?=.{1,${NODE_NAME_MAX}}$)[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*$`);

export interface Ca {
  readonly dir: string;
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly key: CryptoKey;
  /** `sha256:HEX` of the CA certificate (DER): what agents pin with --ca-fingerprint. */
  readonly fingerprint: string;
}

export function caError(message: string, hint?: string, cause?: unknown): TsconvergeError {
  return new TsconvergeError('CA_ERROR', message, { hint, cause, terminal: true });
}

export function checkNodeName(node: string): void {
  if (!NODE_NAME.test(node)) {
    throw caError(
      `invalid node name ${JSON.stringify(node)}: lower-case letters, digits, '-', '_' and dots between labels`,
      'node names are lower-case host names, e.g. web-01 or web-01.example.org',
    );
  }
}

/** `sha256:HEX` of a certificate's DER bytes. */
export function fingerprintOf(pem: string): string {
  return (
    'sha256:' +
    createHash('sha256')
      .update(new Uint8Array(x509.PemConverter.decodeFirst(pem)))
      .digest('hex')
  );
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x10; // positive, no leading zero byte
  return b.toString('hex');
}

/** Write a file atomically (temp + rename) with `mode`. */
export async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // A short temporary name: `file`'s own name may already be as long as a name can be.
  const tmp = path.join(path.dirname(file), `.tmp-${randomBytes(8).toString('hex')}`);
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

export async function exportKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey), 'PRIVATE KEY');
}

export async function importKeyPem(pem: string): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), ALG, true, ['sign'])) as unknown as CryptoKey;
}

export async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
}

/** A new key and a certificate request for `node` (the agent's side of enrolment). */
export async function createKeyAndCsr(node: string): Promise<{ keyPem: string; csrPem: string }> {
  checkNodeName(node);
  const keys = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${node}`, keys, signingAlgorithm: ALG });
  return { keyPem: await exportKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

export interface IssueOptions {
  readonly days?: number;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

function validity(opts: IssueOptions): { notBefore: Date; notAfter: Date } {
  const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const notAfter = opts.notAfter ?? new Date(Date.now() + (opts.days ?? 365) * 86_400_000);
  return { notBefore, notAfter };
}

async function issue(
  ca: Ca,
  subject: string,
  publicKey: x509.PublicKey | CryptoKey,
  usage: 'client' | 'server',
  names: readonly string[],
  opts: IssueOptions,
): Promise<string> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension(
      usage === 'server' ? [x509.ExtendedKeyUsage.serverAuth, CATALOGUE_SIGNING_OID] : [x509.ExtendedKeyUsage.clientAuth],
      false,
    ),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
  ];
  if (names.length) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: /^[0-9.]+$|:/.test(n) ? ('ip' as const) : ('dns' as const), value: n })),
        false,
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: ca.cert.subject,
    ...validity(opts),
    signingAlgorithm: ALG,
    publicKey,
    signingKey: ca.key,
    extensions,
  });
  return cert.toString('pem');
}

export interface InitOptions {
  /** Extra host names / IPs the server answers on (localhost, 127.0.0.1, ::1 and this host's name are always in). */
  readonly hostnames?: readonly string[];
  readonly days?: number;
}

/** Create a CA in `dir` (refuses to overwrite one), with a server and an operator certificate. */
export async function initCa(dir: string, opts: InitOptions = {}): Promise<Ca> {
  const p = caPaths(dir);
  if (
    await stat(p.caCert).then(
      () => true,
      () => false,
    )
  ) {
    throw caError(`a CA already exists in ${dir}`, 'use it (tsconverge ca list), or pass another --ca-dir');
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=tsconverge CA ${os.hostname()} ${new Date().toISOString().slice(0, 10)}`,
    notBefore: new Date(Date.now() - 5 * 60_000),
    notAfter: new Date(Date.now() + (opts.days ?? 3650) * 86_400_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeAtomic(p.caKey, await exportKeyPem(keys.privateKey), 0o600);
  await writeAtomic(p.caCert, cert.toString('pem'), 0o644);
  const ca: Ca = { dir, cert, certPem: cert.toString('pem'), key: keys.privateKey, fingerprint: fingerprintOf(cert.toString('pem')) };
  const names = [...new Set(['localhost', '127.0.0.1', '::1', os.hostname(), ...(opts.hostnames ?? [])])];
  const server = await generateKeys();
  await writeAtomic(p.serverKey, await exportKeyPem(server.privateKey), 0o600);
  await writeAtomic(
    p.serverCert,
    await issue(ca, `CN=${names.find((n) => !/^[0-9.:]+$/.test(n) && n !== 'localhost') ?? 'localhost'}`, server.publicKey, 'server', names, {
      days: opts.days ?? 3650,
    }),
    0o644,
  );
  await issueOperator(ca, 'operator', p.operatorKey, p.operatorCert);
  await writeAtomic(p.revoked, '[]\n', 0o644);
  return ca;
}

/** A key and certificate for an operator (reads every node's status, never a catalogue). */
export async function issueOperator(ca: Ca, name: string, keyFile: string, certFile: string): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw caError(`invalid operator name ${JSON.stringify(name)}`);
  const keys = await generateKeys();
  await writeAtomic(keyFile, await exportKeyPem(keys.privateKey), 0o600);
  await writeAtomic(certFile, await issue(ca, `CN=${name}, O=${OPERATOR_ORG}`, keys.publicKey, 'client', [], { days: 365 }), 0o644);
}

/** True when `certPem` carries the catalogue-signing purpose (only server certificates do). */
export function canSignCatalogues(certPem: string): boolean {
  return new NodeX509(certPem).keyUsage?.includes(CATALOGUE_SIGNING_OID) ?? false;
}

export interface ReissueOptions {
  /** Names or IPs to add to the certificate's (the old ones are kept). */
  readonly hostnames?: readonly string[];
  /** Validity from now; default: the old certificate's end. */
  readonly days?: number;
}

/**
 * Issue the server's certificate again for its same key, subject and names (plus
 * `hostnames`), with the catalogue-signing purpose. Certificates made before that purpose
 * existed lack it, and agents refuse catalogues signed without it: the server calls this
 * at start when its certificate lacks it (`tsconverge ca reissue-server` does it by hand).
 * The old certificate is kept as server.crt.old. Returns the new certificate (PEM).
 */
export async function reissueServerCert(ca: Ca, opts: ReissueOptions = {}): Promise<string> {
  const p = caPaths(ca.dir);
  const oldPem = await readFile(p.serverCert, 'utf8').catch((err: Error) => {
    throw caError(`cannot read ${p.serverCert}: ${err.message}`, 'tsconverge ca init creates it');
  });
  const old = new x509.X509Certificate(oldPem);
  const ownSpki = createPublicKey(createPrivateKey(await readFile(p.serverKey, 'utf8'))).export({ type: 'spki', format: 'der' });
  if (!ownSpki.equals(Buffer.from(old.publicKey.rawData))) {
    throw caError(`${p.serverCert} is not the certificate of ${p.serverKey}`, 'restore the pair, or make a new CA with tsconverge ca init');
  }
  const san = old.getExtension(x509.SubjectAlternativeNameExtension);
  const names = [...new Set([...(san?.names.items.map((n) => n.value) ?? []), ...(opts.hostnames ?? [])])];
  const notAfter = opts.days !== undefined ? new Date(Date.now() + opts.days * 86_400_000) : old.notAfter;
  const pem = await issue(ca, old.subject, old.publicKey, 'server', names, { notAfter });
  await writeAtomic(`${p.serverCert}.old`, oldPem, 0o644);
  await writeAtomic(p.serverCert, pem, 0o644);
  return pem;
}

export function caPaths(dir: string) {
  return {
    caKey: path.join(dir, 'ca.key'),
    caCert: path.join(dir, 'ca.crt'),
    serverKey: path.join(dir, 'server.key'),
    serverCert: path.join(dir, 'server.crt'),
    operatorKey: path.join(dir, 'operator.key'),
    operatorCert: path.join(dir, 'operator.crt'),
    requests: path.join(dir, 'requests'),
    signed: path.join(dir, 'signed'),
    revoked: path.join(dir, 'revoked.json'),
    tokens: path.join(dir, 'tokens.json'),
  };
}

export async function loadCa(dir: string): Promise<Ca> {
  const p = caPaths(dir);
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(p.caCert, 'utf8');
    keyPem = await readFile(p.caKey, 'utf8');
  } catch (err) {
    throw caError(`no CA in ${dir}: ${(err as Error).message}`, 'create one with `tsconverge ca init --ca-dir DIR`', err);
  }
  const st = await stat(p.caKey);
  if ((st.mode & 0o077) !== 0) throw caError(`${p.caKey} is readable by group or others (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${p.caKey}`);
  return { dir, cert: new x509.X509Certificate(certPem), certPem, key: await importKeyPem(keyPem), fingerprint: fingerprintOf(certPem) };
}

/** Parse and check a certificate request for `node`: well-formed, self-signed by its key, CN=node, ECDSA P-256. */
export async function checkCsr(node: string, csrPem: string): Promise<x509.Pkcs10CertificateRequest> {
  checkNodeName(node);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new TsconvergeError('CERT_REFUSED', `not a PEM certificate request: ${(err as Error).message}`, {
      terminal: true,
      hint: 'send the PKCS#10 request in PEM form',
    });
  }
  if (!(await csr.verify())) throw new TsconvergeError('CERT_REFUSED', "the certificate request's signature does not verify", { terminal: true });
  const cn = csr.subjectName.getField('CN');
  if (cn.length !== 1 || cn[0] !== node) throw new TsconvergeError('CERT_REFUSED', `the request is for CN=${cn.join(',')}, not ${node}`, { terminal: true });
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256')
    throw new TsconvergeError('CERT_REFUSED', `the request's key is ${alg.name} ${alg.namedCurve ?? ''}; accepted: ECDSA P-256`, { terminal: true });
  return csr;
}

function publicKeyOf(pem: string): string {
  return Buffer.from(new x509.X509Certificate(pem).publicKey.rawData).toString('hex');
}

export type SubmitResult = { readonly state: 'signed'; readonly certificate: string } | { readonly state: 'pending' };

/**
 * Enrolment: store `node`'s request, signing it at once when `autosign` says so. A node
 * that already has a certificate gets it back only for the same key; a second, different
 * request while one is pending is refused (no one replaces another's request).
 */
export async function submitCsr(ca: Ca, node: string, csrPem: string, autosign: boolean): Promise<SubmitResult> {
  const csr = await checkCsr(node, csrPem);
  const p = caPaths(ca.dir);
  const key = Buffer.from(csr.publicKey.rawData).toString('hex');
  const signed = await readFile(path.join(p.signed, `${node}.crt`), 'utf8').catch(() => undefined);
  if (signed !== undefined) {
    if (publicKeyOf(signed) === key) return { state: 'signed', certificate: signed };
    throw new TsconvergeError('CERT_REFUSED', `${node} already has a certificate for another key`, {
      terminal: true,
      hint: `on the CA: tsconverge ca revoke ${node}, then enrol again`,
    });
  }
  const reqFile = path.join(p.requests, `${node}.csr`);
  const pending = await readFile(reqFile, 'utf8').catch(() => undefined);
  if (pending !== undefined && Buffer.from(new x509.Pkcs10CertificateRequest(pending).publicKey.rawData).toString('hex') !== key) {
    throw new TsconvergeError('CERT_REFUSED', `a different request for ${node} is already waiting`, {
      terminal: true,
      hint: `on the CA: tsconverge ca list; sign or remove requests/${node}.csr`,
    });
  }
  if (pending === undefined) await writeAtomic(reqFile, csrPem, 0o644);
  if (autosign) return { state: 'signed', certificate: await signNode(ca, node) };
  return { state: 'pending' };
}

/** Sign the waiting request of `node` (`tsconverge ca sign NODE`). */
export async function signNode(ca: Ca, node: string, opts: IssueOptions = {}): Promise<string> {
  checkNodeName(node);
  const p = caPaths(ca.dir);
  const reqFile = path.join(p.requests, `${node}.csr`);
  const pem = await readFile(reqFile, 'utf8').catch(() => undefined);
  if (pem === undefined) throw caError(`no certificate request from ${node}`, 'tsconverge ca list shows the waiting requests');
  const csr = await checkCsr(node, pem);
  const cert = await issue(ca, `CN=${node}`, csr.publicKey, 'client', [], opts);
  await writeAtomic(path.join(p.signed, `${node}.crt`), cert, 0o644);
  await rm(reqFile, { force: true });
  return cert;
}

/** A client certificate for `node` from a request, not stored (tests: expired certificates). */
export async function issueNodeCert(ca: Ca, node: string, csrPem: string, opts: IssueOptions): Promise<string> {
  const csr = await checkCsr(node, csrPem);
  return issue(ca, `CN=${node}`, csr.publicKey, 'client', [], opts);
}

export interface RevokedEntry {
  readonly node: string;
  readonly serial: string;
  readonly at: string;
}

async function readRevoked(file: string): Promise<RevokedEntry[]> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RevokedEntry[];
  } catch {
    return [];
  }
}

/** Revoke `node`'s certificate: the server refuses it from its next request; the node may enrol again. */
export async function revokeNode(dir: string, node: string): Promise<RevokedEntry> {
  checkNodeName(node);
  const p = caPaths(dir);
  const file = path.join(p.signed, `${node}.crt`);
  const pem = await readFile(file, 'utf8').catch(() => undefined);
  if (pem === undefined) throw caError(`${node} has no signed certificate`, 'tsconverge ca list shows the signed nodes');
  const entry = { node, serial: new NodeX509(pem).serialNumber.toLowerCase(), at: new Date().toISOString() };
  await writeAtomic(p.revoked, JSON.stringify([...(await readRevoked(p.revoked)), entry], null, 2) + '\n', 0o644);
  await rm(file);
  return entry;
}

/** A check `isRevoked(serialHex)` that rereads revoked.json whenever it changes (one stat per call). */
export function createRevocationCheck(dir: string): (serial: string) => boolean {
  const file = caPaths(dir).revoked;
  let seen = '';
  let serials = new Set<string>();
  return (s) => {
    let key = 'missing';
    try {
      const st = statSync(file);
      key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      /* none revoked */
    }
    if (key !== seen) {
      try {
        serials = new Set((JSON.parse(readFileSync(file, 'utf8')) as RevokedEntry[]).map((e) => e.serial.toLowerCase()));
      } catch {
        serials = new Set();
      }
      seen = key;
    }
    return serials.has(s.toLowerCase().replace(/^0+/, '')) || serials.has(s.toLowerCase());
  };
}

export interface CaListing {
  readonly pending: readonly { node: string; fingerprint: string }[];
  readonly signed: readonly { node: string; serial: string; notAfter: string; fingerprint: string }[];
  readonly revoked: readonly RevokedEntry[];
}

export async function listCa(dir: string): Promise<CaListing> {
  const p = caPaths(dir);
  const names = async (d: string, ext: string): Promise<string[]> =>
    (await readdir(d).catch(() => [] as string[]))
      .filter((f) => f.endsWith(ext))
      .map((f) => f.slice(0, -ext.length))
      .sort();
  const pending = await Promise.all(
    (await names(p.requests, '.csr')).map(async (node) => {
      const csr = new x509.Pkcs10CertificateRequest(await readFile(path.join(p.requests, `${node}.csr`), 'utf8'));
      return { node, fingerprint: 'sha256:' + createHash('sha256').update(new Uint8Array(csr.rawData)).digest('hex') };
    }),
  );
  const signed = await Promise.all(
    (await names(p.signed, '.crt')).map(async (node) => {
      const pem = await readFile(path.join(p.signed, `${node}.crt`), 'utf8');
      const c = new NodeX509(pem);
      return { node, serial: c.serialNumber.toLowerCase(), notAfter: new Date(c.validTo).toISOString(), fingerprint: fingerprintOf(pem) };
    }),
  );
  return { pending, signed, revoked: await readRevoked(p.revoked) };
}

/** Glob (`*`, `?`) match of a node name, for the autosign policy file. */
export function globMatch(glob: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
  return re.test(name);
}

/** The autosign policy file: one node-name glob per line, `#` comments. Read on every request (it is small). */
export async function policyAllows(file: string | undefined, node: string): Promise<boolean> {
  if (!file) return false;
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .some((g) => globMatch(g, node));
}
