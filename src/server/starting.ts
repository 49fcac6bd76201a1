/**
 * While the server starts (the fleet code compiles, the store opens: a first start creates
 * the embedded database, 10-20 s), its port already answers: `GET /v1/health` with 503
 * `{"status":"starting","waitingFor":[...]}`, anything else with 503 `{"error":"starting"}`.
 * So a health check knows within a second that the server is there and what it waits for
 * (`curl -f` still fails until it is ready). Closed just before the real listener opens.
 */
import https from 'node:https';

export interface StartingListener {
  /** Stop answering and free the port (open connections are closed). */
  close(): Promise<void>;
}

export function listenWhileStarting(opts: {
  host: string;
  port: number;
  key: string;
  cert: string;
  waitingFor: () => readonly string[];
  onError?: (err: Error) => void;
}): Promise<StartingListener | undefined> {
  const server = https.createServer({ key: opts.key, cert: opts.cert, minVersion: 'TLSv1.2' }, (req, res) => {
    const health = req.method === 'GET' && (req.url ?? '').split('?')[0] === '/v1/health';
    const body = JSON.stringify(health ? { status: 'starting', waitingFor: opts.waitingFor() } : { error: 'starting: try again in a few seconds' });
    req.resume();
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '2', connection: 'close' }).end(body);
  });
  return new Promise((resolve) => {
    server.once('error', (err) => {
      opts.onError?.(err);
      resolve(undefined);
    });
    server.listen({ host: opts.host, port: opts.port }, () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      }),
    );
  });
}
