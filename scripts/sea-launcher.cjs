'use strict';
/**
 * The main script of the single executable dist/tsconverge (scripts/build-sea.mjs writes
 * it into the blob with the version and the flags below filled in). It runs before the 3.5 MB bundle
 * is compiled, so that:
 *   - `tsconverge --version` (or -V), alone on the command line, prints the version the
 *     bundle would print (package.json's, baked in at build time) without loading the
 *     bundle at all; any other command line goes to the bundle (commander) as before;
 *   - a one-shot command (everything but `agent` and `server`; an agent's single run,
 *     `--onetime` or `--worker`, is one-shot too) runs without V8's
 *     optimizing compilers (Maglev, TurboFan) and baseline compiler: a run of a few
 *     hundred milliseconds is over before optimised code pays back its compile time and
 *     memory (measured: peak RSS of a 50-container plan 106 -> 85 MB, CPU 0.85x). They are
 *     switched back on once the process has used LITE_MS of CPU time, or as soon as the code asks for
 *     them (globalThis.__tsconvergeFullSpeed, src/core/tiering.ts: a large manifest, a fleet
 *     compile), so a long run is optimised as usual. `agent` and `server` run for hours
 *     and keep the defaults.
 * `agent` itself (not --onetime, --in-process or --worker, not disable/enable, not help)
 * only schedules runs and starts each as a child process of this executable: it runs the
 * small agent bundle (src/cli/agent-main.ts), which has the same agent commands but not
 * the engine, so the process that stays resident holds only what it uses.
 * The bundle is compiled with vm.Script and the V8 code cache the build made for the
 * same flags (one cache per mode); a cache V8 rejects only costs the compile time.
 */
const VERSION = '__TSCONVERGE_VERSION__';
const LITE_FLAGS = '__TSCONVERGE_LITE_FLAGS__';
const FULL_FLAGS = '__TSCONVERGE_FULL_FLAGS__';
const ENCODING = '__TSCONVERGE_ENCODING__';
const AGENT_ENCODING = '__TSCONVERGE_AGENT_ENCODING__';
/** Built-in modules a one-shot run loads, for `agent`'s one run and for the rest (scripts/sea-code-cache.cjs finds them). */
const PRELOAD = '__TSCONVERGE_PRELOAD__';
const LITE_MS = 300;
const args = process.argv.slice(2);

/** The command and its first argument, after the global options. */
function command() {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--log-level' || a === '--log-format') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return [a, args[i + 1]];
  }
  return [];
}

if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  const sea = require('node:sea');
  const [cmd, sub] = command();
  // `agent --onetime` and a scheduled run (`agent ... --worker`, a child of the agent) are one
  // run each, as short as `apply`: one-shot too. The agent itself and `--in-process` are long.
  const oneRun = cmd === 'agent' && args.some((a) => a === '--onetime' || a === '--worker' || a.startsWith('--worker='));
  const long = cmd === 'server' || (cmd === 'agent' && sub !== 'disable' && sub !== 'enable' && !oneRun);
  if (!long && process.env.TSCONVERGE_JIT !== 'full') {
    // Node's own modules come with a code cache that V8 accepts only under the default
    // flags: loaded after LITE_FLAGS, each is compiled from source (crypto took 10-14 ms
    // instead of 5, http 10-14 instead of 4). So the ones such a run loads anyway (the
    // build lists them from its training runs, one list for an agent's run) are loaded first.
    for (const m of PRELOAD[cmd === 'agent' ? 'agent' : 'default']) require(`node:${m}`);
    v8.setFlagsFromString(LITE_FLAGS);
    let lite = true;
    const fullSpeed = () => {
      if (lite) {
        lite = false;
        v8.setFlagsFromString(FULL_FLAGS);
      }
    };
    globalThis.__tsconvergeFullSpeed = fullSpeed;
    // A large YAML parse (src/core/tiering.ts parseSpeed): Sparkplug for its duration.
    globalThis.__tsconvergeParseSpeed = () => {
      if (!lite) return () => undefined;
      v8.setFlagsFromString('--sparkplug');
      return () => {
        if (lite) v8.setFlagsFromString('--no-sparkplug');
      };
    };
    // LITE_MS of CPU time, not wall time: a run slowed by a busy machine is not a long run.
    const check = () => {
      const u = process.cpuUsage();
      if ((u.user + u.system) / 1000 >= LITE_MS) fullSpeed();
      else setTimeout(check, 50).unref();
    };
    setTimeout(check, 50).unref();
  }
  const mode = long || process.env.TSCONVERGE_JIT === 'full' ? 'full' : 'lite';
  // The run paths of `agent` and anything that prints help go to the main bundle.
  const inProcess = (a) => a === '--onetime' || a === '--in-process' || a === '--worker' || a.startsWith('--worker=') || a === '--help' || a === '-h';
  const scheduler =
    cmd === 'agent' && sub !== 'disable' && sub !== 'enable' && sub !== 'help' && !args.some(inProcess) && process.env.TSCONVERGE_SEA_AGENT_BUNDLE !== '0';
  const name = scheduler ? 'tsconverge-agent' : 'tsconverge';
  // USE_MAIN_CONTEXT_DEFAULT_LOADER (below) is marked experimental: Node warns on its first use; this use is the launcher's, not the user's.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    if (String(warning).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    return emitWarning.call(this, warning, ...rest);
  };
  // getRawAsset: the bytes in the executable, not a copy of them.
  const script = new vm.Script(Buffer.from(sea.getRawAsset(`${name}.cjs`)).toString(scheduler ? AGENT_ENCODING : ENCODING), {
    filename: __filename,
    cachedData: Buffer.from(sea.getRawAsset(`${name}.${mode}.cache`)),
    // import() of builtins (pglite's import('fs')...) through Node's own loader.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (script.cachedDataRejected && process.env.TSCONVERGE_SEA_CACHE_CHECK === '1') {
    process.stderr.write(`tsconverge: the ${mode} code cache of ${name}.cjs was rejected\n`);
    process.exit(70);
  }
  script.runInThisContext()(exports, require, module, __filename, __dirname);
}
