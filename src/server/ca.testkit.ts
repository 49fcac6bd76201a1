/** Test helpers for the CA. Used by *.test.ts only. */
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { ALG, caPaths, importKeyPem } from './ca.js';

/**
 * Replace the server certificate in CA `dir` with one as `ca init` made it before catalogue
 * signing had its own purpose: the same key, subject, names and validity, serverAuth only.
 * Returns it (PEM).
 */
export async function writeLegacyServerCert(dir: string): Promise<string> {
  const p = caPaths(dir);
  const ca = new x509.X509Certificate(readFileSync(p.caCert, 'utf8'));
  const now = new x509.X509Certificate(readFileSync(p.serverCert, 'utf8'));
  const legacy = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: now.subject,
    issuer: ca.subject,
    notBefore: now.notBefore,
    notAfter: now.notAfter,
    signingAlgorithm: ALG,
    publicKey: now.publicKey,
    signingKey: await importKeyPem(readFileSync(p.caKey, 'utf8')),
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]), now.getExtension(x509.SubjectAlternativeNameExtension)!],
  });
  writeFileSync(p.serverCert, legacy.toString('pem'));
  return legacy.toString('pem');
}
