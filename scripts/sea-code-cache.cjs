'use strict';
/**
 * Writes the V8 code cache of the wrapped bundle (scripts/build-sea.mjs):
 *   node [execArgv] sea-code-cache.cjs BUNDLE OUT ENCODING FLAGS [TRAIN_DIR]
 * FLAGS are set first, as scripts/sea-launcher.cjs sets them before it compiles the
 * bundle (V8 accepts a cache only under the flags it was made with). The bundle's
 * top level runs (module set-up, no command: __tsconvergeCodeCache), so the functions
 * it compiles are in the cache too.
 *
 * With TRAIN_DIR (the one-shot commands' cache), the cache is then trained: each command
 * of TRAINING runs in its own process (this script with --run), compiled from the cache
 * so far, and writes the cache again when it exits, now holding every function that
 * command compiled. A one-shot run spends much of its time in code V8 would otherwise
 * compile lazily from source at every start (the YAML parser, the validators, the
 * engine, the plan): with the flag change below it, 0.83x the CPU of a no-change `apply`
 * of the bench workload and 0.81x of its `apply --noop` (README, "Startup, memory and the
 * single executable").
 * The commands touch nothing outside TRAIN_DIR and never reach a Docker Engine
 * (DOCKER_HOST names a socket that does not exist): the build needs no engine, and its
 * output does not depend on the machine's containers.
 *   node [execArgv] sea-code-cache.cjs --run BUNDLE CACHE_IN CACHE_OUT ENCODING FLAGS -- ARGV...
 */
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

function compile(bundle, encoding, flags, cachedData) {
  if (flags) v8.setFlagsFromString(flags);
  const script = new vm.Script(fs.readFileSync(bundle, encoding), {
    filename: bundle,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (script.cachedDataRejected) throw new Error(`sea-code-cache: V8 rejected the cache being trained (${bundle})`);
  return script;
}

if (process.argv[2] === '--run') {
  // One training command: the bundle runs it as the executable would, then the cache is written.
  const [bundle, cacheIn, cacheOut, encoding, flags] = process.argv.slice(3, 8);
  const argv = process.argv.slice(process.argv.indexOf('--') + 1);
  const before = new Set(process.moduleLoadList);
  const script = compile(bundle, encoding, flags, fs.readFileSync(cacheIn));
  process.on('exit', (code) => {
    // 0: nothing to change; 2: changes (applied, or pending with --noop). Anything else is a broken training run.
    if (code !== 0 && code !== 2) {
      process.exitCode = 70;
      return;
    }
    fs.writeFileSync(cacheOut, script.createCachedData());
    fs.writeFileSync(`${cacheOut}.builtins.json`, JSON.stringify(builtinsSince(before)));
  });
  process.argv = [process.argv[0], bundle, ...argv];
  script.runInThisContext()(exports, require, module, bundle, path.dirname(bundle));
  return;
}

const [bundle, out, encoding, flags, trainDir] = process.argv.slice(2);
const before = new Set(process.moduleLoadList);
const script = compile(bundle, encoding, flags);
globalThis.__tsconvergeCodeCache = true;
script.runInThisContext()(exports, require, module, bundle, __dirname);
fs.writeFileSync(out, script.createCachedData());
// The public built-in modules the bundle loads (OUT.builtins.json, { default, agent }: its top
// level's, and with TRAIN_DIR the training runs', by command): the launcher loads them before
// it sets FLAGS, while V8 still accepts Node's own code cache for them.
const top = builtinsSince(before);
const builtins = trainDir ? train(trainDir, top) : { default: top, agent: top };
fs.writeFileSync(`${out}.builtins.json`, JSON.stringify(builtins));

function builtinsSince(before) {
  return process.moduleLoadList
    .filter((m) => !before.has(m) && m.startsWith('NativeModule '))
    .map((m) => m.slice('NativeModule '.length))
    .filter((m) => !m.startsWith('internal/') && !m.startsWith('_') && m !== 'process');
}

/** Runs TRAINING in TRAIN_DIR, each command extending the cache `out`; returns the built-in modules they loaded, by command. */
function train(dir, top) {
  const { spawnSync } = require('node:child_process');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  fs.mkdirSync(root);
  const host = path.join(dir, 'manifests', 'host.yaml');
  fs.mkdirSync(path.dirname(host));
  fs.writeFileSync(host, hostManifest());
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSCONVERGE_') && k !== 'NODE_OPTIONS'));
  Object.assign(env, {
    DOCKER_HOST: `unix://${path.join(dir, 'no-engine.sock')}`,
    TSCONVERGE_STATE_DIR: state,
    TSCONVERGE_CACHE_DIR: path.join(dir, 'cache'),
    TSCONVERGE_SECRETS_DIR: path.join(dir, 'secrets'),
    HOME: dir,
  });
  const common = ['--root', root, '--state-dir', state];
  const TRAINING = [
    // The compile path (YAML, limits, validators, the compiler) and the run path on the host
    // kinds (files, in the temp root): a first apply, its no-change run from the stored
    // compile, a dry run that compiles again, in both output formats. (`validate` runs
    // were measured too: they grew the cache by 0.5 MB and made S2 1.5% slower, S4 no faster.)
    ['apply', host, ...common],
    ['apply', host, '--format', 'json', '--log-level', 'warn', ...common],
    ['apply', host, '--noop', '--format', 'json', ...common, '--no-compile-cache'],
    ['plan', host, ...common],
    // One agent run (what each scheduled run is: `agent --worker`, a process of its own).
    ['agent', '--onetime', '--manifests', host, ...common, '--log-level', 'warn'],
  ];
  // The Docker kinds: a no-change run and a dry run of a change, against a recorded engine
  // (scripts/sea-train-engine.cjs: the answers a real engine gave; the build needs none).
  const engine = require('./sea-train-engine.cjs');
  // Outside TRAIN_DIR: the server unlinks its socket when it stops, which raced with the
  // removal of TRAIN_DIR below and left some of its files behind.
  const replay = path.join(require('node:os').tmpdir(), `tsc-sea-train-${process.pid}.sock`);
  fs.rmSync(replay, { force: true });
  const dockerRuns = engine.trainCommands(engine.MANIFEST, engine.CHANGED, ['--root', root, '--state-dir', path.join(dir, 'docker-state')]);
  const server = require('node:child_process').spawn(process.execPath, [path.join(__dirname, 'sea-train-engine.cjs'), 'serve', engine.RECORDING, replay], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let cache = out;
  // Per command: what `agent`'s one run loads (the server client's https, zlib...) is not
  // loaded ahead of an `apply`, and the reverse.
  const builtins = { default: new Set(top), agent: new Set(top) };
  const runs = [...TRAINING.map((argv) => ({ argv, env })), ...dockerRuns.map((argv) => ({ argv, env: { ...env, DOCKER_HOST: `unix://${replay}` } }))];
  try {
    waitForSocket(replay, server);
    runs.forEach(({ argv, env: runEnv }, i) => {
      const next = path.join(dir, `cache-${i}`);
      const r = spawnSync(process.execPath, [...process.execArgv, __filename, '--run', bundle, cache, next, encoding, flags, '--', ...argv], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: runEnv,
        cwd: dir,
        encoding: 'utf8',
      });
      if ((r.status !== 0 && r.status !== 2) || !fs.existsSync(next)) {
        throw new Error(`sea-code-cache: training run \`tsconverge ${argv.join(' ')}\` exited ${r.status ?? r.signal}:\n${r.stderr}`);
      }
      cache = next;
      for (const m of JSON.parse(fs.readFileSync(`${next}.builtins.json`, 'utf8'))) builtins[argv[0] === 'agent' ? 'agent' : 'default'].add(m);
    });
  } finally {
    server.kill('SIGTERM');
  }
  fs.copyFileSync(cache, out);
  fs.rmSync(dir, { recursive: true, force: true });
  return { default: [...builtins.default], agent: [...builtins.agent] };
}

/** Waits (synchronously: the build is a script) until the replaying engine listens. */
function waitForSocket(socket, server) {
  const until = Date.now() + 10_000;
  while (!fs.existsSync(socket)) {
    if (server.exitCode !== null || Date.now() > until)
      throw new Error(`sea-code-cache: the recorded engine (scripts/sea-train-engine.cjs serve) did not start`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/** Files under the temp root. */
function hostManifest() {
  const lines = ['resources:'];
  for (let f = 0; f < 12; f++) {
    lines.push('  - kind: file', `    name: train-${f}`, `    path: /etc/tsc-train/f-${f}.conf`, `    content: "setting = ${f}\\n"`, "    mode: '0644'");
  }
  return `${lines.join('\n')}\n`;
}
