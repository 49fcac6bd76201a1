#!/usr/bin/env bash
# Idempotent setup for the benchmark harness (Debian 12, root): installs the peers we
# measure against from Debian's packages, starts dockerd when it is not running, and
# builds the local image the workload uses. Safe to run again; it only does what is
# missing. It does not build tsconverge (run `npm run build` for that).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bench-setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need_pkgs+=(docker-compose)
command -v ansible-playbook >/dev/null 2>&1 || need_pkgs+=(ansible)
command -v puppet >/dev/null 2>&1 || need_pkgs+=(puppet)
command -v hyperfine >/dev/null 2>&1 || need_pkgs+=(hyperfine)
[ -x /usr/bin/time ] || need_pkgs+=(time)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# community.docker's modules need the Docker SDK for Python (Debian: python3-docker).
# ansible pulls it in as a recommendation only, and we install without recommends.
if ! python3 -c 'import docker' >/dev/null 2>&1; then
  log "installing python3-docker (Docker SDK for community.docker)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends python3-docker >/dev/null
fi

# Docker Engine: PID 1 is not systemd here, so start dockerd ourselves.
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd --host unix:///var/run/docker.sock >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /tmp/dockerd.log"; exit 1; }
fi

# The workload image, built the same way scripts/setup.sh builds it (no registry here).
if ! docker image inspect local/busybox:1 >/dev/null 2>&1; then
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/etc" "$dir/www" "$dir/tmp" "$dir/data"
  cp /bin/busybox "$dir/bin/busybox"
  for a in sh sleep httpd cat echo ls wget mkdir rm touch grep env id hostname sysctl; do
    ln -s busybox "$dir/bin/$a"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
  echo "nobody:x:65534:65534:nobody:/:/bin/sh" >>"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"; echo "nogroup:x:65534:" >>"$dir/etc/group"
  echo v1 >"$dir/www/index.html"; echo v1 >"$dir/VERSION"
  log "building image local/busybox:1"
  tar -C "$dir" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - local/busybox:1 >/dev/null
  rm -rf "$dir"
fi

log "ready: docker $(docker version --format '{{.Server.Version}}')," \
  "compose $(docker-compose version --short 2>/dev/null || echo '?')," \
  "ansible $(ansible --version 2>/dev/null | head -1 | awk '{print $NF}' | tr -d ']')," \
  "puppet $(puppet --version 2>/dev/null || echo '?')"
