#!/usr/bin/env bash
# The main job on the bundled example: set everything up, then plan, apply, and apply
# again (which must change nothing) the quickstart stack, and fetch the page it serves.
# Files and bind-mount sources go under a root directory, not the machine's /.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${TSCONVERGE_QUICKSTART_ROOT:-/var/tmp/tsconverge-quickstart}
bash scripts/setup.sh
mkdir -p "$ROOT"
run() { echo; echo "\$ tsconverge $*"; set +e; node bin/tsconverge.js "$@"; code=$?; set -e; echo "(exit $code)"; }
run plan examples/quickstart --root "$ROOT"
run apply examples/quickstart --root "$ROOT"
run apply examples/quickstart --root "$ROOT"
[ "$code" -eq 0 ] || { echo "the second apply should change nothing" >&2; exit 1; }
echo; echo "\$ curl http://127.0.0.1:18080/"; curl -fsS http://127.0.0.1:18080/
