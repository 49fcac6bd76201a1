#!/usr/bin/env bash
# The lint step of `npm test` (and `npm run lint`): the floors of src/ (dependency-cruiser:
# no import upward, none between siblings, no circle), typescript-eslint, and the drawing of
# the floors in docs/architecture.md fresh, and the format (prettier, .prettierrc.json;
# `npm run format` writes it). The tools live in tools/lint with their own TypeScript 6 (typescript-eslint and dependency-cruiser need its compiler API; the project
# builds with TypeScript 7), installed here on first use from tools/lint/package-lock.json.
#   scripts/lint.sh            check everything (what npm test runs)
#   scripts/lint.sh drawing    redraw the floors in docs/architecture.md
#   scripts/lint.sh format     format the tree with prettier (.prettierrc.json)
set -euo pipefail
cd "$(dirname "$0")/.."
tools=tools/lint
if [ ! -d "$tools/node_modules" ] || [ "$tools/package-lock.json" -nt "$tools/node_modules/.package-lock.json" ]; then
  echo '[lint] installing the lint tools (tools/lint)' >&2
  npm ci --prefix "$tools" --no-audit --no-fund >/dev/null
fi
bin=$tools/node_modules/.bin
case "${1:-check}" in
  check)
    "$bin/depcruise" --config "$tools/dependency-cruiser.cjs" src
    "$bin/eslint" --config "$tools/eslint.config.js" --max-warnings 0 src test bench scripts
    node "$tools/drawing.mjs" --check
    "$bin/prettier" --check --log-level warn . || { echo '[lint] not formatted: run `npm run format` and commit the result' >&2; exit 1; }
    echo '[lint] floors, typescript-eslint, the drawing and the format: ok' >&2
    ;;
  drawing) node "$tools/drawing.mjs" ;;
  format)
    shift
    [ $# -gt 0 ] || set -- .
    "$bin/prettier" --write "$@"
    ;;
  *) echo "usage: scripts/lint.sh [check|drawing|format [PATH...]]" >&2; exit 2 ;;
esac
