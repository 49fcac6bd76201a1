/**
 * One node's signed catalogue from a snapshot of the fleet tree: compile, serialise, sign.
 * The same code runs in the server's main thread and in its compile workers
 * (compile-pool.ts), so a catalogue is the same bytes wherever it was compiled.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { compileFleet } from '../catalogue/fleet.js';
import { createSchemaRegistry, type SchemaRegistry } from '../spec/schemas.js';
import type { SecretStoreOptions } from '../catalogue/secrets.js';
import type { Facts } from '../facts/facts.js';
import { bodyDigest, toDocument } from './wire.js';

export interface Compiled {
  readonly body: Buffer;
  readonly etag: string;
  readonly signature: string;
  readonly catalogueVersion: string;
  readonly codeVersion: string;
}

export interface CompilerOptions {
  readonly environment?: string;
  readonly secrets?: SecretStoreOptions;
  readonly serverKeyPem: string;
}

/** When a node's catalogue was first issued: kept by the caller, so a repeat compile of the same catalogue gives the same bytes. */
export interface Issued {
  readonly catalogueVersion: string;
  readonly issuedAt: string;
}

export class Compiler {
  readonly registry: SchemaRegistry = createSchemaRegistry();
  private readonly key: KeyObject;

  constructor(private readonly opts: CompilerOptions) {
    this.key = createPrivateKey(opts.serverKeyPem);
  }

  /**
   * `prior`: the node's last issued catalogue; its issuedAt is kept when the catalogue is the
   * same. Throws ManifestErrors / TsconvergeError when the node's catalogue does not compile.
   */
  async compile(dir: string, codeVersion: string, node: string, facts: Readonly<Record<string, unknown>>, prior?: Issued): Promise<Compiled & Issued> {
    const fc = await compileFleet(dir, {
      node,
      environment: this.opts.environment,
      facts: facts as unknown as Facts,
      secrets: this.opts.secrets,
      registry: this.registry,
      trustedNamesOnly: true,
    });
    const issuedAt = prior?.catalogueVersion === fc.catalogue.version ? prior.issuedAt : new Date().toISOString();
    const body = Buffer.from(JSON.stringify(toDocument(fc, codeVersion, issuedAt)));
    return {
      body,
      etag: bodyDigest(body),
      signature: sign('sha256', body, this.key).toString('base64'),
      catalogueVersion: fc.catalogue.version,
      codeVersion,
      issuedAt,
    };
  }
}
