/**
 * The Docker engine's event stream (GET /events) over its unix socket, on node:http
 * alone (the watching agent process never loads dockerode). Only container, network and
 * volume events; the watcher keeps those of the objects it manages.
 *
 * Resumed with `since` = the time of the last event seen, after any break: the engine
 * replays what it still holds (a bounded history, 256 events in Engine 20.10), and the
 * events at exactly that time that were already delivered are dropped. Two breaks the
 * replay cannot bridge are reported as a gap, and the watcher runs everything instead:
 * - the engine restarted (its socket is a new file): its history starts again, and the
 *   containers it stopped on the way down say nothing to the new engine;
 * - the replay is as long as the engine's history: older events may have fallen out.
 */
import http from 'node:http';
import { stat } from 'node:fs/promises';

/** One engine event as the API gives it. */
export interface EngineEvent {
  readonly Type: string;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes?: Readonly<Record<string, string>> };
  readonly time: number;
  readonly timeNano: number;
}

export interface ContainerSummary {
  readonly Id: string;
  readonly Names: readonly string[];
  readonly State: string;
  readonly Status: string;
  readonly Labels?: Readonly<Record<string, string>>;
}

export interface EventStreamHandlers {
  event(e: EngineEvent): void;
  /** Connected (again). `resumedSince`: the `since` it asked for; `gap`: why the replay cannot be trusted. */
  connected(info: { resumedSince?: string; gap?: string; containers: readonly ContainerSummary[] }): void;
  /** The stream broke; it is retried. */
  lost(why: string): void;
}

/** The engine's history length (daemon/events: eventsLimit). */
export const ENGINE_HISTORY = 256;

const since = (nano: bigint): string => `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;

function getJson<T>(socketPath: string, p: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: p, headers: { Host: 'docker' }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if ((res.statusCode ?? 0) >= 300) {
          reject(new Error(`GET ${p}: HTTP ${res.statusCode}`));
          return;
        }
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p}: timed out`)));
    req.on('error', reject);
  });
}

export interface EventStream {
  stop(): void;
  /** The time of the last event seen (the `since` of the next connection). */
  readonly last: () => string | undefined;
}

/** `sinceMs`: the first connection replays from then (the agent's start: what its first run did and saw is not lost). */
export function openEventStream(
  socketPath: string,
  h: EventStreamHandlers,
  opts: { retryMs?: (attempt: number) => number; sinceMs?: number } = {},
): EventStream {
  let stopped = false;
  let req: http.ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastNano: bigint | undefined;
  /** Events already delivered at exactly lastNano (the replay starts with them again). */
  let atLast = new Set<string>();
  let socketIno: number | undefined;
  let attempt = 0;
  /** Streams opened so far: after the first, a connection resumes. */
  let opened = 0;
  const retry = opts.retryMs ?? ((n: number) => Math.min(5000, 250 * 2 ** n));
  const startedNano = BigInt(opts.sinceMs ?? Date.now()) * 1_000_000n;

  const key = (e: EngineEvent): string => `${e.Type}/${e.Action}/${e.Actor.ID}`;

  async function connect(): Promise<void> {
    if (stopped) return;
    let gap: string | undefined;
    try {
      // Compared with the socket of the last stream that opened (a new socket that does not answer yet keeps the gap for the next attempt).
      const ino = (await stat(socketPath)).ino;
      if (socketIno !== undefined && ino !== socketIno) gap = 'the engine restarted (its socket is new): its history before the restart is gone';
      const containers = await getJson<ContainerSummary[]>(socketPath, '/containers/json?all=1');
      const from = lastNano ?? startedNano;
      const filters = encodeURIComponent(JSON.stringify({ type: ['container', 'network', 'volume'] }));
      const connectedAt = BigInt(Date.now()) * 1_000_000n;
      let replayed = 0;
      await new Promise<void>((resolve, reject) => {
        req = http.get({ socketPath, path: `/events?since=${since(from)}&filters=${filters}`, headers: { Host: 'docker' } }, (res) => {
          if ((res.statusCode ?? 0) >= 300) {
            reject(new Error(`GET /events: HTTP ${res.statusCode}`));
            res.resume();
            return;
          }
          attempt = 0;
          socketIno = ino;
          h.connected({ ...(opened++ > 0 ? { resumedSince: since(from) } : {}), ...(gap ? { gap } : {}), containers });
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            buf += d;
            for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
              const line = buf.slice(0, i).trim();
              buf = buf.slice(i + 1);
              if (!line) continue;
              let e: EngineEvent;
              try {
                e = JSON.parse(line) as EngineEvent;
              } catch {
                continue;
              }
              const nano = BigInt(e.timeNano);
              if (lastNano !== undefined && (nano < lastNano || (nano === lastNano && atLast.has(key(e))))) continue;
              if (nano < connectedAt && ++replayed === ENGINE_HISTORY) {
                h.connected({
                  gap: `the replay since ${since(from)} filled the engine's history (${ENGINE_HISTORY} events): older ones may be lost`,
                  containers: [],
                });
              }
              if (lastNano === undefined || nano > lastNano) {
                lastNano = nano;
                atLast = new Set();
              }
              atLast.add(key(e));
              h.event(e);
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      if (!stopped) h.lost('the engine closed the event stream');
    } catch (err) {
      if (stopped) return;
      h.lost((err as Error).message);
    }
    if (stopped) return;
    timer = setTimeout(() => void connect(), retry(attempt++));
  }

  void connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      req?.destroy();
    },
    last: () => (lastNano === undefined ? undefined : since(lastNano)),
  };
}
