/**
 * Host facts: what templates and node classification may use about this host.
 * Gathered once per run, cheaply: Node's os module, a few small files, and no
 * subprocess. The Docker engine's version costs one HTTP request on the engine's
 * socket, so it is gathered only when asked for (`createFacts(root, { docker: true })`,
 * as `tsconverge facts` does); otherwise `docker` is absent.
 */
import os from 'node:os';
import http from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { createRootFs } from '../core/rootfs.js';

export interface InterfaceAddress {
  readonly family: 'IPv4' | 'IPv6';
  readonly address: string;
  /** address/prefix, e.g. 172.17.0.1/16. */
  readonly cidr: string | null;
}

export interface InterfaceFacts {
  readonly mac: string;
  readonly internal: boolean;
  readonly addresses: readonly InterfaceAddress[];
}

export interface DockerFacts {
  readonly version: string;
  readonly apiVersion: string;
  readonly os: string;
  readonly arch: string;
  readonly kernelVersion: string;
}

export interface Facts {
  readonly hostname: string;
  readonly fqdn: string;
  /** The DNS domain: fqdn without the host name ('' when the host name has no dots). */
  readonly domain: string;
  readonly os: {
    readonly family: string;
    readonly name: string;
    readonly version: string;
    readonly id: string;
    /** e.g. bookworm ('' when /etc/os-release does not say). */
    readonly codename: string;
    readonly prettyName: string;
  };
  readonly kernel: { readonly release: string; readonly arch: string };
  readonly cpus: number;
  readonly memoryBytes: number;
  /** Interface name -> its addresses (kept for templates written against the first facts). */
  readonly interfaces: Readonly<Record<string, readonly string[]>>;
  /** Interface name -> MAC, addresses with families and prefixes. */
  readonly network: Readonly<Record<string, InterfaceFacts>>;
  /** First non-internal IPv4 address, or null. */
  readonly primaryIPv4: string | null;
  readonly uptimeSeconds: number;
  /** systemd is PID 1 here (/run/systemd/system exists): the service kind uses it. */
  readonly systemd: boolean;
  /** This host is itself a container (/.dockerenv or /run/.containerenv exists). */
  readonly container: boolean;
  /** The Docker engine, when asked for; null when asked for and not reachable. */
  readonly docker?: DockerFacts | null;
  readonly [extra: string]: unknown;
}

export interface FactsOptions {
  /** Ask the Docker engine for its version: true for the default socket, or a socket path. */
  readonly docker?: boolean | string;
  /** Time allowed for the Docker engine's answer. */
  readonly dockerTimeoutMs?: number;
}

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** The socket of the engine: DOCKER_HOST when it is a unix socket, else /var/run/docker.sock. */
export function defaultDockerSocket(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
}

/** GET /version on the engine's socket; null when it does not answer in time. */
export function readDockerFacts(socketPath = defaultDockerSocket(), timeoutMs = 2000): Promise<DockerFacts | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/version', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        try {
          const v = JSON.parse(body) as Record<string, string>;
          resolve(
            res.statusCode === 200
              ? { version: v.Version ?? '', apiVersion: v.ApiVersion ?? '', os: v.Os ?? '', arch: v.Arch ?? '', kernelVersion: v.KernelVersion ?? '' }
              : null,
          );
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

export function networkFacts(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): Record<string, InterfaceFacts> {
  const out: Record<string, InterfaceFacts> = {};
  for (const [name, addrs] of Object.entries(ifaces)) {
    const list = addrs ?? [];
    out[name] = {
      mac: list[0]?.mac ?? '',
      internal: list.every((a) => a.internal),
      addresses: list.map((a) => ({ family: a.family, address: a.address, cidr: a.cidr ?? null })),
    };
  }
  return out;
}

/** Collect facts. `root` is the host root (for /etc/os-release); live values come from the kernel. */
export async function createFacts(root = '/', opts: FactsOptions = {}): Promise<Facts> {
  let osr: Record<string, string> = {};
  try {
    const text = await createRootFs(root).readText('/etc/os-release');
    if (text === null) throw new Error('absent');
    osr = parseOsRelease(text);
  } catch {
    // The machine's own, when the root has none: facts describe the machine tsconverge runs on.
    try {
      osr = parseOsRelease(await readFile('/etc/os-release', 'utf8'));
    } catch {
      /* no os-release */
    }
  }
  const raw = os.networkInterfaces();
  const interfaces: Record<string, string[]> = {};
  for (const [name, addrs] of Object.entries(raw)) interfaces[name] = (addrs ?? []).map((a) => a.address);
  const network = networkFacts(raw);
  const primaryIPv4 =
    Object.values(network)
      .flatMap((i) => (i.internal ? [] : i.addresses))
      .find((a) => a.family === 'IPv4')?.address ?? null;
  const hostname = os.hostname();
  const [systemd, dockerenv, containerenv] = await Promise.all([exists('/run/systemd/system'), exists('/.dockerenv'), exists('/run/.containerenv')]);
  const facts: Facts = {
    hostname: hostname.split('.')[0]!,
    fqdn: hostname,
    domain: hostname.includes('.') ? hostname.slice(hostname.indexOf('.') + 1) : '',
    os: {
      family: os.platform(),
      name: osr.NAME ?? os.type(),
      version: osr.VERSION_ID ?? '',
      id: osr.ID ?? '',
      codename: osr.VERSION_CODENAME ?? '',
      prettyName: osr.PRETTY_NAME ?? '',
    },
    kernel: { release: os.release(), arch: os.arch() },
    cpus: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    interfaces,
    network,
    primaryIPv4,
    uptimeSeconds: Math.round(os.uptime()),
    systemd,
    container: dockerenv || containerenv,
  };
  if (opts.docker) {
    const socket = typeof opts.docker === 'string' ? opts.docker : defaultDockerSocket();
    return { ...facts, docker: await readDockerFacts(socket, opts.dockerTimeoutMs) };
  }
  return facts;
}

/**
 * The engine's firewall backend from GET /info: `iptables`, `nftables` or
 * `iptables+firewalld` on engines that say (FirewallBackend, Engine 28 and later);
 * `iptables` for an older engine, which has no other; null when the engine does not answer.
 */
export function readDockerFirewallBackend(socketPath = defaultDockerSocket(), timeoutMs = 5000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/info', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        try {
          const v = JSON.parse(body) as { FirewallBackend?: { Driver?: string } };
          resolve(res.statusCode === 200 ? (v.FirewallBackend?.Driver ?? 'iptables') : null);
        } catch {
          resolve(null);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}
