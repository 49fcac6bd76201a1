/**
 * A small Docker Engine API client on node:http over the unix socket, for the read path
 * only: ping, the list calls and inspects. A no-change run needs nothing else, and this
 * costs a few milliseconds to load where dockerode (docker-modem, ssh2, grpc, protobufjs)
 * costs about 120 ms and 34 MB (README, "Startup and memory"). Writes still go through
 * dockerode, loaded on the first apply. Answers have dockerode's shapes (the API's JSON)
 * and errors dockerode's fields (`statusCode`, `json.message`, `code`), so the providers
 * and `dockerError` treat both alike.
 */
import http from 'node:http';

export interface EngineApiError extends Error {
  statusCode?: number;
  json?: { message?: string };
  reason?: string;
  code?: string;
}

/** The unix socket of the engine when DOCKER_HOST is unset or a unix:// URL; else undefined (tcp, ssh: use dockerode). */
export function engineSocket(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

function query(opts: Record<string, unknown> | undefined): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(opts ?? {})) {
    if (v === undefined) continue;
    q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface EngineApi {
  ping(): Promise<string>;
  listContainers(opts?: Record<string, unknown>): Promise<unknown[]>;
  listImages(opts?: Record<string, unknown>): Promise<unknown[]>;
  listNetworks(opts?: Record<string, unknown>): Promise<unknown[]>;
  listVolumes(opts?: Record<string, unknown>): Promise<{ Volumes: unknown[] | null; Warnings: unknown }>;
  inspectContainer(id: string): Promise<unknown>;
  inspectImage(ref: string): Promise<unknown>;
  inspectNetwork(id: string): Promise<unknown>;
  inspectVolume(name: string): Promise<unknown>;
}

/** GET requests on one keep-alive agent (node unrefs idle sockets: they do not keep the process alive). */
export function createEngineApi(socketPath: string, timeoutMs = 120_000): EngineApi {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const get = <T>(path: string, raw = false): Promise<T> =>
    new Promise((resolve, reject) => {
      // servername '': no TLS here, and without it the agent derives one from the Host header
      // with net.isIP on every request (the IPv6 pattern's first use cost 3 ms of a no-change run).
      const req = http.get({ socketPath, path, agent, timeout: timeoutMs, headers: { Host: 'docker' }, servername: '' } as http.RequestOptions, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            try {
              resolve((raw ? text : JSON.parse(text)) as T);
            } catch (err) {
              reject(err);
            }
            return;
          }
          let json: { message?: string } | undefined;
          try {
            json = JSON.parse(text) as { message?: string };
          } catch {
            /* not JSON */
          }
          const err = new Error(`(HTTP code ${status}) ${json?.message ?? text.trim()}`) as EngineApiError;
          err.statusCode = status;
          err.json = json ?? { message: text.trim() };
          err.reason = res.statusMessage;
          reject(err);
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from the Docker engine within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
    });
  const id = (s: string): string => encodeURIComponent(s);
  return {
    ping: () => get<string>('/_ping', true),
    listContainers: (o) => get(`/containers/json${query(o)}`),
    listImages: (o) => get(`/images/json${query(o)}`),
    listNetworks: (o) => get(`/networks${query(o)}`),
    listVolumes: (o) => get(`/volumes${query(o)}`),
    inspectContainer: (c) => get(`/containers/${id(c)}/json`),
    inspectImage: (ref) => get(`/images/${ref.split('/').map(id).join('/')}/json`),
    inspectNetwork: (n) => get(`/networks/${id(n)}`),
    inspectVolume: (v) => get(`/volumes/${id(v)}`),
  };
}
