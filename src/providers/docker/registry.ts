/**
 * What a tag points at in its registry, without pulling: the Engine API's
 * `GET /distribution/{name}/json` (dockerode `image.distribution()`) answers with the
 * manifest digest the registry holds for the reference now. Compared with the repo
 * digest of the local image the tag names, it tells a dry run whether the real run
 * will pull (and so replace the containers that use the tag).
 */
import type Docker from 'dockerode';
import { loadDockerode, normaliseImageRef } from './client.js';

/** `127.0.0.1:5000/app:1` -> `127.0.0.1:5000/app`. */
export function repositoryOf(ref: string): string {
  const r = normaliseImageRef(ref);
  const at = r.indexOf('@');
  if (at >= 0) return r.slice(0, at);
  return r.slice(0, r.lastIndexOf(':'));
}

/** The local image's repo digest for the reference's repository, if it has one. */
export function localDigest(ref: string, repoDigests: readonly string[] | undefined): string | undefined {
  const repo = repositoryOf(ref);
  return (repoDigests ?? []).find((d) => d.startsWith(repo + '@'))?.slice(repo.length + 1);
}

/** The registry's current digest for the reference; throws when the registry cannot say. */
export async function registryDigest(docker: Docker, ref: string): Promise<string> {
  await loadDockerode(); // the distribution endpoint is not on the light read path (engine-api.ts); only `pull: newer` asks it
  const d = (await docker.getImage(ref).distribution()) as { Descriptor?: { digest?: string } };
  if (!d.Descriptor?.digest) throw new Error('the registry returned no digest');
  return d.Descriptor.digest;
}
