/**
 * `tsconverge ca init | reissue-server | fingerprint | list | sign | revoke | token`: the
 * catalogue server's certificate authority (src/server/ca.ts). Its command line:
 * src/cli/commands/ca.ts. Also where the server's commands find their state and CA
 * directories, and print a TsconvergeError.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TsconvergeError } from '../core/errors.js';
import { resolveStateDir } from '../core/state-layout.js';
import { EXIT } from './exit.js';

/** --ca-dir and --state-dir (src/cli/commands/options.ts caOptions). */
export interface CaFlags {
  readonly caDir?: string;
  readonly stateDir?: string;
}

/** --state-dir, else $TSCONVERGE_STATE_DIR, else /var/lib/tsconverge (src/engine/lock.ts). */
export function serverStateDir(flag: string | undefined, root = '/'): string {
  return resolveStateDir({ stateDir: flag, root });
}

export function caDirOf(o: CaFlags): string {
  return path.resolve(o.caDir ?? path.join(serverStateDir(o.stateDir), 'ca'));
}

/** A TsconvergeError as one line on stderr, exit 1; anything else is a bug (rethrown). */
export function fail(err: unknown): number {
  if (err instanceof TsconvergeError) {
    process.stderr.write(`error: ${err.format()}\n`);
    return EXIT.NOT_RUN;
  }
  throw err;
}

export async function caInitCommand(o: CaFlags & { hostname?: string[] }): Promise<number> {
  try {
    const { initCa } = await import('../server/ca.js');
    const dir = caDirOf(o);
    const created = await initCa(dir, { hostnames: o.hostname });
    process.stdout.write(`CA created in ${dir}\nfingerprint: ${created.fingerprint}\noperator certificate: ${path.join(dir, 'operator.crt')}\n`);
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function caReissueServerCommand(o: CaFlags & { hostname?: string[]; days?: number }): Promise<number> {
  try {
    const { loadCa, reissueServerCert, caPaths } = await import('../server/ca.js');
    const dir = caDirOf(o);
    const pem = await reissueServerCert(await loadCa(dir), { hostnames: o.hostname, days: o.days });
    const { X509Certificate } = await import('node:crypto');
    const c = new X509Certificate(pem);
    process.stdout.write(
      `issued ${caPaths(dir).serverCert} again (serial ${c.serialNumber.toLowerCase()}, until ${new Date(c.validTo).toISOString()}, names ${c.subjectAltName ?? 'none'}); the old one is server.crt.old\nrestart the server to use it\n`,
    );
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function caFingerprintCommand(o: CaFlags): Promise<number> {
  try {
    const { fingerprintOf } = await import('../server/ca.js');
    process.stdout.write(fingerprintOf(await readFile(path.join(caDirOf(o), 'ca.crt'), 'utf8')) + '\n');
    return EXIT.OK;
  } catch (err) {
    return fail(
      err instanceof Error && !(err instanceof TsconvergeError)
        ? new TsconvergeError('CA_ERROR', err.message, { hint: 'tsconverge ca init creates the CA' })
        : err,
    );
  }
}

export async function caListCommand(o: CaFlags & { format: string }): Promise<number> {
  try {
    const { listCa } = await import('../server/ca.js');
    const l = await listCa(caDirOf(o));
    if (o.format === 'json') {
      process.stdout.write(JSON.stringify(l, null, 2) + '\n');
      return EXIT.OK;
    }
    for (const r of l.pending) process.stdout.write(`pending  ${r.node}  request ${r.fingerprint}\n`);
    for (const r of l.signed) process.stdout.write(`signed   ${r.node}  serial ${r.serial}  until ${r.notAfter}\n`);
    for (const r of l.revoked) process.stdout.write(`revoked  ${r.node}  serial ${r.serial}  at ${r.at}\n`);
    if (!l.pending.length && !l.signed.length && !l.revoked.length) process.stdout.write('no certificates or requests\n');
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function caSignCommand(node: string, o: CaFlags & { days: number }): Promise<number> {
  try {
    const { loadCa, signNode } = await import('../server/ca.js');
    await signNode(await loadCa(caDirOf(o)), node, { days: o.days });
    process.stdout.write(`signed ${node}\n`);
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function caRevokeCommand(node: string, o: CaFlags): Promise<number> {
  try {
    const { revokeNode } = await import('../server/ca.js');
    const e = await revokeNode(caDirOf(o), node);
    process.stdout.write(`revoked ${node} (serial ${e.serial})\n`);
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}

export async function caTokenCommand(o: CaFlags & { ttlHours: number }): Promise<number> {
  try {
    const { createJoinToken } = await import('../server/join-tokens.js');
    process.stdout.write((await createJoinToken(caDirOf(o), o.ttlHours)) + '\n');
    return EXIT.OK;
  } catch (err) {
    return fail(err);
  }
}
