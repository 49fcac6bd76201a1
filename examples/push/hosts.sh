#!/usr/bin/env bash
# Two simulated hosts for trying `tsconverge push` on one machine (README, "Push over SSH").
#
#   examples/push/hosts.sh start DIR   start host-a and host-b: one real sshd each (Debian's
#                                      openssh-server) on 127.0.0.1, ports $PUSH_PORTS
#                                      (default 18321 18322), each with a host key generated
#                                      here; a client key DIR/id_ed25519 they accept; and
#                                      DIR/inventory.yaml naming both (each host converges
#                                      its own root DIR/host-X, so they can share a machine)
#   examples/push/hosts.sh stop DIR    stop both sshd and remove DIR
#
# Run it as root (sshd needs it). Nothing outside DIR is touched except /run/sshd, the
# directory sshd insists on.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 1; }
read -r -a ports <<<"${PUSH_PORTS:-18321 18322}"
names=(host-a host-b)

stop() {
  for n in "${names[@]}"; do
    pid_file="$dir/sshd/$n/sshd.pid"
    if [ -f "$pid_file" ]; then kill "$(cat "$pid_file")" 2>/dev/null || true; fi
  done
  rm -rf "$dir"
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 1 ;;
esac

sshd=/usr/sbin/sshd
[ -x "$sshd" ] || { echo "$sshd is missing: apt-get install openssh-server (scripts/setup.sh does)" >&2; exit 1; }
[ -d "$dir/sshd" ] && stop   # start again from scratch
mkdir -p -m 0700 "$dir"
mkdir -p /run/sshd
dir=$(cd "$dir" && pwd)

ssh-keygen -q -t ed25519 -N '' -C tsconverge-push-example -f "$dir/id_ed25519"
{
  echo "# Two simulated hosts on this machine (examples/push/hosts.sh)."
  echo "knownHosts: known_hosts       # relative to this file; default ~/.ssh/known_hosts"
  echo "defaults:"
  echo "  user: root"
  echo "  key: id_ed25519"
  echo "hosts:"
} >"$dir/inventory.yaml"

for i in 0 1; do
  n=${names[$i]} port=${ports[$i]} d="$dir/sshd/${names[$i]}"
  mkdir -p -m 0700 "$d" "$dir/$n"
  ssh-keygen -q -t ed25519 -N '' -C "$n" -f "$d/ssh_host_ed25519_key"
  cp "$dir/id_ed25519.pub" "$d/authorized_keys"
  cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
LogLevel ERROR
Subsystem sftp internal-sftp
EOF
  "$sshd" -f "$d/sshd_config" -E "$d/sshd.log"   # daemonizes; its pid is in $d/sshd.pid
  cat >>"$dir/inventory.yaml" <<EOF
  $n:
    address: 127.0.0.1
    port: $port
    root: $dir/$n                               # a real host: / (the default)
    tsconverge: $dir/$n/usr/local/bin/tsconverge  # a real host: /usr/local/bin/tsconverge (the default)
EOF
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "$n: sshd on 127.0.0.1:$port, root $dir/$n, host key $(ssh-keygen -lf "$d/ssh_host_ed25519_key.pub" | cut -d' ' -f2)"
done
printf 'groups:\n  boxes: [host-a, host-b]          # --limit boxes (or --limit "host-*")\n' >>"$dir/inventory.yaml"
echo "inventory: $dir/inventory.yaml"
