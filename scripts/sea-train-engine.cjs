'use strict';
/**
 * A recorded Docker Engine for training the one-shot code cache (scripts/sea-code-cache.cjs).
 *
 * The training runs need no engine, so the container provider's read, diff and plan code
 * was never in the trained cache: a no-change run of the bench workload compiled it from
 * source at every start (paired: training on it made S2 0.97x and S4 0.94x the CPU). The
 * build still needs no engine: it replays the answers a real engine gave to a real
 * tsconverge run, recorded once into scripts/sea-train/engine.json (GET requests only).
 *
 *   scripts/with-node node scripts/sea-train-engine.cjs record   (dockerd, a built dist/)
 *     applies scripts/sea-train/docker.yaml (two containers, a network, a volume; label
 *     tsconverge-test=sea-train) to the real engine, then runs the training's docker
 *     commands (TRAIN_COMMANDS) through a recording proxy, writes engine.json, and removes
 *     what it created. Run it again when the read path asks the engine something new (a
 *     training run that gets a 404 here fails the build, naming the request).
 *
 * serve(file, socketPath), or `serve FILE SOCKET` as a process: the replaying server: each
 * recorded "METHOD path" gets its recorded status and body; anything else a 404 naming it.
 * Used only by the build's training; no test and no command of tsconverge talks to it.
 */
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const DIR = path.join(__dirname, 'sea-train');
const MANIFEST = path.join(DIR, 'docker.yaml');
const CHANGED = path.join(DIR, 'docker-changed.yaml');
const RECORDING = path.join(DIR, 'engine.json');

/** The docker commands the training runs (sea-code-cache.cjs), given the manifest paths and common flags. */
function trainCommands(manifest, changed, common) {
  return [
    // A no-change run (S2's path: reads, inspects, diff, plan, report) ...
    ['apply', manifest, '--format', 'json', '--log-level', 'warn', ...common],
    // ... and a dry run of a change to one container (S4's: the same plus an update planned).
    ['apply', '--noop', changed, '--format', 'json', '--log-level', 'warn', ...common],
  ];
}

function serve(file, socketPath) {
  const answers = JSON.parse(fs.readFileSync(file, 'utf8'));
  const missed = [];
  const server = http.createServer((req, res) => {
    const key = `${req.method} ${req.url}`;
    const a = answers[key];
    req.resume();
    if (!a) {
      missed.push(key);
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: `not recorded: ${key} (node scripts/sea-train-engine.cjs record)` }));
      return;
    }
    res.writeHead(a.status, { 'Content-Type': a.contentType, 'Api-Version': a.apiVersion ?? '1.41' });
    res.end(a.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve({ missed, close: () => new Promise((r) => server.close(r)) }));
  });
}

async function record() {
  const { execFileSync } = require('node:child_process');
  const os = require('node:os');
  const repo = path.join(__dirname, '..');
  const bin = path.join(repo, 'bin', 'tsconverge.js');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsc-sea-train-'));
  const state = path.join(work, 'state');
  const root = path.join(work, 'root');
  const proxyPath = path.join(work, 'engine.sock');
  const env = { ...process.env, DOCKER_HOST: `unix://${proxyPath}`, NO_COLOR: '1' };
  const answers = {};
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const up = http.request({ socketPath: '/var/run/docker.sock', method: req.method, path: req.url, headers: req.headers }, (ur) => {
        const body = [];
        ur.on('data', (c) => body.push(c));
        ur.on('end', () => {
          const text = Buffer.concat(body).toString('utf8');
          if (req.method === 'GET' || req.method === 'HEAD') {
            answers[`${req.method} ${req.url}`] = {
              status: ur.statusCode,
              contentType: ur.headers['content-type'] ?? 'application/json',
              apiVersion: ur.headers['api-version'],
              body: text,
            };
          }
          res.writeHead(ur.statusCode ?? 500, ur.headers);
          res.end(text);
        });
      });
      up.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => proxy.listen(proxyPath, r));
  const common = ['--root', root, '--state-dir', state];
  try {
    // The proxy lives in this process: the runs are spawned, never run synchronously. Exit 2: changes (made, or pending with --noop).
    const tsconverge = (argv) =>
      new Promise((resolve, reject) => {
        const { spawn } = require('node:child_process');
        const child = spawn(process.execPath, [bin, ...argv], { env, stdio: ['ignore', 'ignore', 'inherit'] });
        child.on('close', (code) => (code === 0 || code === 2 ? resolve() : reject(new Error(`tsconverge ${argv.join(' ')} exited ${code}`))));
      });
    await tsconverge(['apply', MANIFEST, ...common]);
    for (const k of Object.keys(answers)) delete answers[k]; // only what the training's own runs ask
    for (const argv of trainCommands(MANIFEST, CHANGED, common)) await tsconverge(argv);
    const sorted = Object.fromEntries(
      Object.keys(answers)
        .sort()
        .map((k) => [k, answers[k]]),
    );
    fs.writeFileSync(RECORDING, `${JSON.stringify(sorted, null, 1)}\n`);
    process.stderr.write(`sea-train-engine: ${Object.keys(sorted).length} answers written to ${path.relative(repo, RECORDING)}\n`);
  } finally {
    proxy.close();
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', 'label=tsconverge-test=sea-train'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    if (ids.length) execFileSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'ignore' });
    for (const kind of ['network', 'volume']) {
      const names = execFileSync('docker', [kind, 'ls', '-q', '--filter', 'label=tsconverge-test=sea-train'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean);
      if (names.length) execFileSync('docker', [kind, 'rm', ...names], { stdio: 'ignore' });
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}

module.exports = { serve, trainCommands, MANIFEST, CHANGED, RECORDING };

if (require.main === module && process.argv[2] === 'record') {
  record().catch((e) => {
    process.stderr.write(`sea-train-engine: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
// `serve FILE SOCKET`: the replaying server as a process of its own (the build's training
// runs are spawned synchronously); prints "ready" once it listens, stops on SIGTERM.
if (require.main === module && process.argv[2] === 'serve') {
  serve(process.argv[3], process.argv[4]).then(
    ({ close }) => {
      process.on('SIGTERM', () => close().then(() => process.exit(0)));
      process.stdout.write('ready\n');
    },
    (e) => {
      process.stderr.write(`sea-train-engine: ${e.stack ?? e}\n`);
      process.exit(1);
    },
  );
}
