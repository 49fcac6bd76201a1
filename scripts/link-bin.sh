#!/usr/bin/env bash
# `tsconverge` on the PATH (the last step of scripts/setup.sh): BIN_DIR/tsconverge, by default
# /usr/local/bin/tsconverge where the agent's systemd unit (contrib/) runs it from, becomes a
# link to this checkout's single executable dist/tsconverge, so a rebuild is picked up. A real
# file there (an installed release) is left alone. It says what it did.
#   TSCONVERGE_BIN_DIR=DIR  link into DIR instead of /usr/local/bin
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${TSCONVERGE_BIN_DIR:-/usr/local/bin}
link="$dir/tsconverge"
exe="$PWD/dist/tsconverge"
[ -x "$exe" ] || { echo "setup: $exe is missing: run npm run build first" >&2; exit 1; }
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "setup: $link is a file, not a link to this checkout: left as it is; this checkout's build is $exe"
else
  mkdir -p "$dir"
  ln -sfn "$exe" "$link"
  echo "setup: tsconverge is on the PATH: $link -> $exe ($("$link" --version))"
fi
case ":$PATH:" in
  *":$dir:"*) ;;
  *) echo "setup: $dir is not on this shell's PATH: export PATH=\"$dir:\$PATH\"" ;;
esac
