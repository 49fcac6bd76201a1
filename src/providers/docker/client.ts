/**
 * The Docker Engine API client (dockerode) and the few helpers every docker.* provider
 * shares: a suitability ping that never hangs, a pull that treats an error inside the
 * 200 stream as an error and has a deadline, and error translation (owner labels:
 * ownership.ts).
 */
import type Docker from 'dockerode';
import { createEngineApi, engineSocket, type EngineApi } from './engine-api.js';
import { TsconvergeError } from '../../core/errors.js';
import { unsuitable, type Provider, type Unsuitable } from '../types.js';

let DockerClass: typeof Docker | undefined;

/**
 * Load dockerode (it brings docker-modem, ssh2, grpc and protobufjs: about 120 ms and
 * 34 MB). The engine awaits this before a Docker provider applies (withDockerodeToWrite), and
 * before any read when DOCKER_HOST is not a unix socket; a no-change run never loads it.
 */
export async function loadDockerode(): Promise<void> {
  DockerClass ??= ((await import('dockerode')) as unknown as { default: typeof Docker }).default;
}

/** Whether reads need dockerode (DOCKER_HOST is tcp:// or ssh://). */
export const readsNeedDockerode = (): boolean => engineSocket() === undefined;

const READ_METHODS = new Set(['ping', 'listContainers', 'listImages', 'listNetworks', 'listVolumes']);
const OBJECT_GETTERS: Record<string, keyof EngineApi> = {
  getContainer: 'inspectContainer',
  getImage: 'inspectImage',
  getNetwork: 'inspectNetwork',
  getVolume: 'inspectVolume',
};

/**
 * A Docker provider whose writes load dockerode first; its reads never do (a no-change run
 * never loads it). The registration list (providers/kinds.ts) wraps every engine kind.
 */
export function withDockerodeToWrite<A extends object, O>(p: Provider<A, O>): Provider<A, O> {
  const refresh = p.refresh;
  return {
    ...p,
    apply: async (...args) => {
      await loadDockerode();
      return p.apply(...args);
    },
    ...(refresh
      ? {
          refresh: async (...args: Parameters<typeof refresh>) => {
            await loadDockerode();
            return p.refresh!(...args);
          },
        }
      : {}),
  };
}

/**
 * The Docker client the providers see: dockerode's interface, created on first use. Reads
 * (ping, list*, get*(id).inspect()) go to the small node:http client (engine-api.ts) when
 * the engine is on a unix socket; everything else goes to dockerode, which must have been
 * loaded (loadDockerode) first. `then` is undefined, so inversify and `await` do not
 * mistake the client for a promise and create it early.
 */
export function createDockerClient(): Docker {
  let real: Docker | undefined;
  let api: EngineApi | undefined;
  const dockerode = (): Docker => {
    if (!DockerClass) throw new Error('internal error: dockerode used before loadDockerode() (a Docker write outside a provider apply?)');
    // DOCKER_HOST is honoured (docker-modem reads it); requests time out on inactivity.
    return (real ??= new DockerClass({ timeout: 120_000 }));
  };
  const light = (): EngineApi | undefined => {
    const socket = engineSocket();
    return socket === undefined ? undefined : (api ??= createEngineApi(socket));
  };
  const method = (key: PropertyKey): unknown => {
    const target = dockerode() as unknown as Record<PropertyKey, unknown>;
    const v = target[key];
    return typeof v === 'function' ? v.bind(target) : v;
  };
  return new Proxy({} as Docker, {
    get: (_target, key) => {
      if (key === 'then') return undefined;
      if (typeof key === 'string' && READ_METHODS.has(key)) {
        const a = light();
        if (a) return (a[key as keyof EngineApi] as (...args: unknown[]) => unknown).bind(a);
      }
      if (typeof key === 'string' && key in OBJECT_GETTERS) {
        return (id: string) =>
          new Proxy(
            {},
            {
              get: (_t, k) => {
                if (k === 'then') return undefined;
                const a = light();
                if (k === 'inspect' && a) return () => (a[OBJECT_GETTERS[key]!] as (id: string) => Promise<unknown>)(id);
                const obj = (method(key) as (id: string) => Record<PropertyKey, unknown>)(id);
                const v = obj[k];
                return typeof v === 'function' ? v.bind(obj) : v;
              },
            },
          );
      }
      return method(key);
    },
  });
}

export function dockerEndpoint(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** The ping in flight per client: the kinds of a run check suitability at the same time. */
const pinging = new WeakMap<Docker, Promise<Unsuitable | undefined>>();

/**
 * The suitability of every docker.* kind that talks to the engine: undefined when it
 * answers a ping within 5 s, otherwise DOCKER_UNREACHABLE and the reason. Callers while a
 * ping is in flight share its answer (a run's network, volume and container kinds ask at
 * once: one request, not three); a later call pings again.
 */
export function dockerUnsuitable(docker: Docker): Promise<Unsuitable | undefined> {
  let answer = pinging.get(docker);
  if (!answer) {
    answer = pingReason(docker).finally(() => pinging.delete(docker));
    pinging.set(docker, answer);
  }
  return answer;
}

async function pingReason(docker: Docker): Promise<Unsuitable | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    if (readsNeedDockerode()) await loadDockerode();
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000);
      }),
    ]);
    return undefined;
  } catch (err) {
    return unsuitable(
      `Docker engine not reachable at ${dockerEndpoint()}: ${(err as Error).message}. Start dockerd (scripts/setup.sh does) or set DOCKER_HOST`,
      'DOCKER_UNREACHABLE',
    );
  } finally {
    clearTimeout(timer);
  }
}

interface DockerodeError {
  statusCode?: number;
  json?: { message?: string };
  reason?: string;
  message: string;
  code?: string;
}

/** What to fix, for the engine's bad-input rejections (HTTP 400). */
export function badInputHint(detail: string): string {
  if (/invalid reference format|repository name must|invalid repository name|invalid tag/i.test(detail)) {
    return 'fix the image reference in the manifest: lowercase [registry[:port]/]repository[:tag][@sha256:digest], e.g. 127.0.0.1:5000/app:1';
  }
  if (/port/i.test(detail)) return 'fix the port in the manifest: "[ip:]hostPort:containerPort[/tcp|udp]", ports 1-65535';
  if (/mount|volume|bind/i.test(detail))
    return 'fix the mount in the manifest: a bind source and every target must be absolute paths; a volume name must be a valid name';
  return 'the Docker engine refused the declared value as invalid (HTTP 400); fix the field the message names in the manifest (retrying cannot help)';
}

/** The engine's 400: the request itself is invalid, so it is terminal (never retried). */
function badInput(err: unknown, raw: string, resource: string, doing: string): TsconvergeError {
  const detail = raw.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  return new TsconvergeError('INVALID_VALUE', `${doing}: the Docker engine refused the declared value: ${detail}`, {
    resource,
    cause: err,
    terminal: true,
    hint: badInputHint(detail),
  });
}

/** Translate a dockerode error into a TsconvergeError with a hint. */
export function dockerError(err: unknown, resource: string, doing: string): TsconvergeError {
  if (err instanceof TsconvergeError) return err;
  const e = err as DockerodeError;
  const detail = e.json?.message ?? e.message;
  if (e.statusCode === 400) return badInput(err, detail, resource, doing);
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES') {
    return new TsconvergeError('DOCKER_UNREACHABLE', `${doing}: Docker engine not reachable at ${dockerEndpoint()} (${e.code})`, {
      resource,
      cause: err,
      hint: 'start dockerd or set DOCKER_HOST',
    });
  }
  return new TsconvergeError('DOCKER_API', `${doing}: ${detail}`, {
    resource,
    cause: err,
    hint:
      e.statusCode === 409
        ? 'the engine reports a conflict (name in use, object in use)'
        : "the Docker engine refused the request; the message above is the engine's",
  });
}

/**
 * Pull an image and consume the progress stream. The engine answers 200 and then
 * reports failures ("manifest unknown", "connection refused") as JSON lines with an
 * `error` field: those are errors here. Gives up after `timeoutMs`.
 */
export async function pullImage(docker: Docker, ref: string, resource: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.pull(ref)) as NodeJS.ReadableStream;
  } catch (err) {
    const e = err as DockerodeError;
    const detail = e.json?.message ?? e.message;
    if (e.statusCode === 400) throw badInput(err, detail, resource, `pull ${ref}`);
    throw new TsconvergeError(e.statusCode === 404 ? 'IMAGE_NOT_FOUND' : 'IMAGE_PULL_FAILED', `pull ${ref}: ${detail}`, {
      resource,
      cause: err,
      terminal: e.statusCode === 404,
      hint: e.statusCode === 404 ? 'check the image name and tag, and that the registry has it' : 'check that the registry is reachable from the Docker engine',
    });
  }
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    let failed = false;
    const timer = setTimeout(
      () =>
        finish(
          new TsconvergeError('TIMEOUT', `pull ${ref}: no result within ${Math.round(timeoutMs / 1000)} s`, {
            resource,
            hint: 'the registry is slow or unreachable; raise pullTimeout',
          }),
        ),
      timeoutMs,
    );
    const onAbort = (): void => finish(new TsconvergeError('TIMEOUT', `pull ${ref}: aborted`, { resource }));
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish(err?: Error): void {
      if (failed) return;
      failed = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      (stream as unknown as { destroy?: () => void }).destroy?.();
      if (err) reject(err);
      else resolve();
    }
    const line = (text: string): void => {
      if (!text.trim()) return;
      let obj: { error?: string; errorDetail?: { message?: string } };
      try {
        obj = JSON.parse(text);
      } catch {
        return;
      }
      if (obj.error || obj.errorDetail) {
        const msg = obj.errorDetail?.message ?? obj.error ?? 'unknown error';
        const notFound = /not found|manifest unknown|does not exist|repository .* not found/i.test(msg);
        finish(
          new TsconvergeError(notFound ? 'IMAGE_NOT_FOUND' : 'IMAGE_PULL_FAILED', `pull ${ref}: ${msg}`, {
            resource,
            terminal: notFound,
            hint: notFound ? 'check the image name and tag, and that the registry has it' : 'check that the registry is reachable from the Docker engine',
          }),
        );
      }
    };
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        line(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    stream.on('error', (err: Error) => finish(new TsconvergeError('IMAGE_PULL_FAILED', `pull ${ref}: ${err.message}`, { resource, cause: err })));
    stream.on('end', () => {
      line(buf);
      finish();
    });
  });
}

/** `busybox` -> `busybox:latest`; digests and explicit tags are kept. */
export function normaliseImageRef(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastSlash = ref.lastIndexOf('/');
  return ref.slice(lastSlash + 1).includes(':') ? ref : `${ref}:latest`;
}

export interface ImageIndex {
  /** Local image id for a reference (tag or digest), if present. */
  resolve(ref: string): string | undefined;
  readonly images: readonly Docker.ImageInfo[];
}

/** One listImages call, indexed by tag and digest. */
export async function readImageIndex(docker: Docker): Promise<ImageIndex> {
  const images = await docker.listImages({ all: false });
  const byRef = new Map<string, string>();
  for (const img of images) {
    for (const t of img.RepoTags ?? []) byRef.set(t, img.Id);
    for (const d of img.RepoDigests ?? []) byRef.set(d, img.Id);
  }
  return {
    images,
    resolve: (ref) => byRef.get(normaliseImageRef(ref)) ?? byRef.get(ref) ?? (ref.startsWith('sha256:') ? images.find((i) => i.Id === ref)?.Id : undefined),
  };
}

/** One image by reference (an inspect, not a list): the index of just that image. */
export async function readImageRef(docker: Docker, ref: string): Promise<ImageIndex> {
  let id: string | undefined;
  try {
    id = (await docker.getImage(normaliseImageRef(ref)).inspect()).Id;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  return { images: [], resolve: (r) => (id !== undefined && (r === ref || normaliseImageRef(r) === normaliseImageRef(ref)) ? id : undefined) };
}
