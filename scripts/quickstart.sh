#!/usr/bin/env bash
# The main job on the bundled example: set everything up, then plan, apply, and apply
# again (which must change nothing) the quickstart stack, and fetch the page it serves. It
# runs the single executable dist/tsconverge that scripts/setup.sh builds.
# Files and bind-mount sources go under a root directory, not the machine's /.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${TSCONVERGE_QUICKSTART_ROOT:-/var/tmp/tsconverge-quickstart}
bash scripts/setup.sh
mkdir -p "$ROOT"
run() { echo; echo "\$ tsconverge $*"; set +e; dist/tsconverge "$@"; code=$?; set -e; echo "(exit $code)"; }
run plan examples/quickstart --root "$ROOT"
run apply examples/quickstart --root "$ROOT"
run apply examples/quickstart --root "$ROOT"
[ "$code" -eq 0 ] || { echo "the second apply should change nothing" >&2; exit 1; }
echo; echo "\$ curl http://127.0.0.1:18080/"; curl -fsS http://127.0.0.1:18080/

# Host settings beside the containers: examples/host-baseline (DNS, NTP, log rotation and
# forwarding, three sysctls, the Docker daemon's log limits) against a temp root, inside a
# throwaway network namespace so its net.* sysctls never touch this machine.
HOST_ROOT=$(mktemp -d /var/tmp/tsconverge-host-baseline.XXXXXX)
NS=tsc-quickstart-$$
ip netns add "$NS"
trap 'ip netns delete "$NS" 2>/dev/null || true' EXIT
hrun() { echo; echo "\$ tsconverge $* (in netns $NS)"; set +e; ip netns exec "$NS" dist/tsconverge "$@"; code=$?; set -e; echo "(exit $code)"; }
hrun plan examples/host-baseline/manifest.yaml --root "$HOST_ROOT"
hrun apply examples/host-baseline/manifest.yaml --root "$HOST_ROOT"
hrun apply examples/host-baseline/manifest.yaml --root "$HOST_ROOT"
[ "$code" -eq 0 ] || { echo "the second apply of host-baseline should change nothing" >&2; exit 1; }
echo; echo "files written under $HOST_ROOT:"; (cd "$HOST_ROOT" && find . -type f | sort)
