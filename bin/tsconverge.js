#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build, or scripts/setup.sh).
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    process.stderr.write('tsconverge is not built: run `npm run build` (or scripts/setup.sh) first\n');
  } else {
    process.stderr.write(`tsconverge: ${err && err.stack ? err.stack : err}\n`);
  }
  process.exit(1);
});
