#!/usr/bin/env bash
# Builds (once; cached) the local image tsconverge-test/systemd:bookworm: a minimal Debian 12
# root filesystem with systemd, made by debootstrap from Debian's mirror and imported into
# Docker. test/integration/agent-systemd.test.ts boots it with systemd as PID 1 (privileged
# container) to run contrib/systemd/tsconverge-agent.service under a real systemd.
# Idempotent: does nothing when the image exists. Called by scripts/setup.sh.
set -euo pipefail
TAG=${TSCONVERGE_SYSTEMD_IMAGE:-tsconverge-test/systemd:bookworm}
MIRROR=${TSCONVERGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${TSCONVERGE_SYSTEMD_CACHE:-/var/cache/tsconverge-test}
log() { printf '[systemd-image] %s\n' "$*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
command -v debootstrap >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
}
mkdir -p "$CACHE"
rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap bookworm (minbase + systemd) into $rootfs"
# The .debs are kept in $CACHE/debs so a rebuild downloads nothing.
mkdir -p "$CACHE/debs"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps \
  --cache-dir="$CACHE/debs" bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
  { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
# A container boot: no getty, no udev-dependent units, no network configuration to wait for.
chroot "$rootfs" systemctl mask getty@tty1.service console-getty.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-networkd-wait-online.service \
  systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  fstrim.timer dpkg-db-backup.timer >/dev/null 2>&1 || true
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
echo tsconverge-systemd >"$rootfs/etc/hostname"
log "importing as $TAG"
tar -C "$rootfs" -c . | docker import \
  -c 'LABEL tsconverge-test=systemd-image' \
  -c 'ENV container=docker' \
  -c 'CMD ["/lib/systemd/systemd"]' - "$TAG" >/dev/null
log "built $TAG"
