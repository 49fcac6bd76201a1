'use strict';
/**
 * Writes the V8 code cache of the wrapped bundle (scripts/build-sea.mjs):
 *   node [execArgv] sea-code-cache.cjs BUNDLE OUT ENCODING FLAGS
 * FLAGS are set first, as scripts/sea-launcher.cjs sets them before it compiles the
 * bundle (V8 accepts a cache only under the flags it was made with). The bundle's
 * top level runs (module set-up, no command: __tsconvergeCodeCache), so the functions
 * it compiles are in the cache too.
 */
const fs = require('node:fs');
const v8 = require('node:v8');
const vm = require('node:vm');
const [bundle, out, encoding, flags] = process.argv.slice(2);
if (flags) v8.setFlagsFromString(flags);
const script = new vm.Script(fs.readFileSync(bundle, encoding), { filename: bundle, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
globalThis.__tsconvergeCodeCache = true;
script.runInThisContext()(exports, require, module, bundle, __dirname);
fs.writeFileSync(out, script.createCachedData());
