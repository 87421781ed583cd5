#!/usr/bin/env bash
# Private containerd + wasm-sandboxer on unix sockets in one directory.
#
#   hack/devenv.sh start DIR   start both; writes DIR/env (source it)
#   hack/devenv.sh stop DIR    stop both, unmount what they left, remove DIR
#   hack/devenv.sh restart-sandboxer DIR [TERM|KILL]   restart the daemon only
#   hack/devenv.sh kill-sandboxer DIR [TERM|KILL]      end the daemon only
#   hack/devenv.sh stop-sandboxer DIR | start-sandboxer DIR
#   hack/devenv.sh restart-containerd DIR | stop-containerd DIR | start-containerd DIR
#
# SANDBOXER_METRICS_ADDRESS=host:port at start serves the daemon's
# Prometheus metrics there (--metrics-address), across restarts.
#
# Nothing is shared with a system containerd: sockets, root, state, netns
# mounts, CNI config and NRI all live under DIR. The binaries come from
# _output/bin (make build, make containerd).
#
# Environment knobs (all optional):
#   SANDBOXER_FLAGS            extra wasm-sandboxer flags, e.g. "--worker-pool-size 0"
#                              (read by every start and restart)
#   DEVENV_CONTAINERD_CONFIG   a TOML file appended to containerd's config
#                              (e.g. the benchmarks' pinned pause image)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${WASM_SANDBOXER_BIN:-$top/_output/bin}
cni_bin=${CNI_BIN_DIR:-/usr/lib/cni}

die() { echo "devenv: $*" >&2; exit 1; }

wait_socket() { # path pid name
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || die "$3 exited during start; see its log in $(dirname "$1")"
		sleep 0.05
	done
	die "$3 did not create $1 within 10s"
}

write_configs() { # dir
	local d=$1
	mkdir -p "$d/cni/net.d" "$d/root" "$d/state" "$d/sandboxer" "$d/opt"
	# containerd's state (bundles, fifos, sockets) lives in memory, as its
	# default /run/containerd does on a node: a tmpfs of its own, which
	# stop unmounts with the rest. Its root (images, snapshots, metadata)
	# stays on disk, as /var/lib/containerd does.
	mountpoint -q "$d/state" || mount -t tmpfs -o mode=0711,size=1g tmpfs "$d/state"
	# A bridge network with host-local IPAM, as a node's pod network would
	# be; loopback for every pod. No masquerading: nothing leaves the host.
	cat >"$d/cni/net.d/10-wasmtest.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "wasmtest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "wasmbr$(printf '%s' "$d" | cksum | cut -c1-5)",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.$((RANDOM % 200 + 20)).0.0/24"}]],
        "dataDir": "$d/cni/ipam"
      }
    },
    {"type": "loopback"}
  ]
}
EOF
	# wasm-sandboxer's part is the installer's drop-in (install/), imported
	# as on a node, with the daemon's socket under DIR: the proxy plugins
	# wasm and wasm-forked and the CRI runtimes of the same names.
	mkdir -p "$d/conf.d"
	sed "s#\"/run/wasm-sandboxer/sandboxer.sock\"#\"$d/sandboxer.sock\"#" "$top/install/wasm-sandboxer.toml" >"$d/conf.d/wasm-sandboxer.toml"
	cat >"$d/containerd.toml" <<EOF
version = 3
imports = ["$d/conf.d/wasm-sandboxer.toml"]
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs"]

[grpc]
  address = "$d/containerd.sock"

[debug]
  level = "${CONTAINERD_LOG_LEVEL:-info}"

[plugins.'io.containerd.internal.v1.opt']
  path = "$d/opt"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # runc pods: CRI gives the pause container oom_score_adj -998, and
  # lowering it needs CAP_SYS_RESOURCE, which these machines' root lacks
  # (runc: "can't get final child's PID from pipe: EOF"). Wasm pods ignore it.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$cni_bin"]
    conf_dir = "$d/cni/net.d"
EOF
	if [ -n "${DEVENV_CONTAINERD_CONFIG:-}" ]; then
		cat "$DEVENV_CONTAINERD_CONFIG" >>"$d/containerd.toml"
	fi
}

start_sandboxer() { # dir
	local d=$1 metrics=()
	# SANDBOXER_METRICS_ADDRESS at start is kept in DIR for restarts.
	[ -f "$d/metrics-address" ] && metrics=(--metrics-address "$(cat "$d/metrics-address")")
	"$bin/wasm-sandboxer" --listen "$d/sandboxer.sock" --state-dir "$d/sandboxer" \
		--containerd-address "$d/containerd.sock" --log-level "${SANDBOXER_LOG_LEVEL:-debug}" "${metrics[@]}" \
		${SANDBOXER_FLAGS:-} >>"$d/sandboxer.log" 2>&1 &
	echo $! >"$d/sandboxer.pid"
	wait_socket "$d/sandboxer.sock" "$(cat "$d/sandboxer.pid")" wasm-sandboxer
}

# kill_sandboxer DIR SIGNAL: end the daemon with SIGNAL (TERM or KILL) and
# wait until it is gone. Pod servers (forked pods) run on.
kill_sandboxer() {
	local d=$1 sig=${2:-TERM} pid
	[ -f "$d/sandboxer.pid" ] || die "no wasm-sandboxer running in $d"
	pid=$(cat "$d/sandboxer.pid")
	kill "-$sig" "$pid"
	for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && die "wasm-sandboxer $pid did not exit on SIG$sig"
	[ "$sig" = KILL ] && rm -f "$d/sandboxer.sock"
	rm -f "$d/sandboxer.pid"
}

# restart_sandboxer DIR SIGNAL: kill_sandboxer, then start it again on the
# same state dir.
restart_sandboxer() {
	kill_sandboxer "$1" "${2:-TERM}"
	start_sandboxer "$1"
}

start_containerd() { # dir
	local d=$1 i ok=
	# containerd finds containerd-shim-wasm-v1 on PATH, and passes its
	# environment (the daemon's socket) to it.
	PATH="$bin:$PATH" WASM_SANDBOXER_SOCKET="$d/sandboxer.sock" "$bin/containerd" --config "$d/containerd.toml" >>"$d/containerd.log" 2>&1 &
	echo $! >"$d/containerd.pid"
	wait_socket "$d/containerd.sock" "$(cat "$d/containerd.pid")" containerd
	# The CRI plugin is ready once it answers a version request.
	for i in $(seq 1 100); do
		if "$bin/ctr" --address "$d/containerd.sock" version >/dev/null 2>&1; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || die "containerd does not answer; see $d/containerd.log"
}

# restart_containerd DIR: stop containerd (SIGTERM) and start it again.
restart_containerd() {
	local d=$1
	stop_pid "$d/containerd.pid" containerd
	rm -f "$d/containerd.sock" "$d/containerd.sock.ttrpc"
	start_containerd "$d"
}

start() {
	local d=$1
	[ -n "$d" ] || die "usage: $0 start DIR"
	for b in containerd ctr wasm-sandboxer containerd-shim-wasm-v1; do
		[ -x "$bin/$b" ] || die "$bin/$b is missing: run 'make build containerd' first"
	done
	[ -x "$cni_bin/bridge" ] || die "CNI plugins not found in $cni_bin: apt-get install containernetworking-plugins"
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	write_configs "$d"
	if [ -n "${SANDBOXER_METRICS_ADDRESS:-}" ]; then
		echo "$SANDBOXER_METRICS_ADDRESS" >"$d/metrics-address"
	fi

	start_sandboxer "$d"

	start_containerd "$d"

	cat >"$d/crictl.yaml" <<EOF
runtime-endpoint: unix://$d/containerd.sock
image-endpoint: unix://$d/containerd.sock
timeout: 30
EOF
	cat >"$d/env" <<EOF
export DEVENV_DIR="$d"
export CRI_CONFIG_FILE="$d/crictl.yaml"
export CONTAINERD_ADDRESS="$d/containerd.sock"
export CONTAINER_RUNTIME_ENDPOINT="unix://$d/containerd.sock"
export IMAGE_SERVICE_ENDPOINT="unix://$d/containerd.sock"
export WASM_SANDBOXER_SOCKET="$d/sandboxer.sock"
export PATH="$bin:\$PATH"
EOF
	echo "devenv: containerd and wasm-sandboxer running in $d (source $d/env)"
}

stop_pid() { # pidfile name
	[ -f "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

# stop_pod_servers DIR: end the pod servers of forked pods, which outlive
# the daemon by design (SIGTERM ends their modules, then they exit).
stop_pod_servers() {
	local pids
	pids=$(pgrep -f -- " pod-server .*--socket $1/sandboxer/s/" || true)
	[ -n "$pids" ] || return 0
	kill -TERM $pids 2>/dev/null || true
	for _ in $(seq 1 100); do
		pids=$(pgrep -f -- " pod-server .*--socket $1/sandboxer/s/" || true)
		[ -n "$pids" ] || return 0
		sleep 0.05
	done
	kill -KILL $pids 2>/dev/null || true
}

stop() {
	local d=$1
	[ -n "$d" ] || die "usage: $0 stop DIR"
	[ -d "$d" ] || return 0
	d=$(cd "$d" && pwd)
	stop_pid "$d/containerd.pid" containerd
	stop_pid "$d/sandboxer.pid" wasm-sandboxer
	stop_pod_servers "$d"
	# Unmount whatever is left below DIR (rootfs overlays, netns, shm),
	# deepest first, then tear down the test bridge.
	awk -v d="$d/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	if [ -f "$d/cni/net.d/10-wasmtest.conflist" ]; then
		br=$(sed -n 's/.*"bridge": "\(wasmbr[0-9]*\)".*/\1/p' "$d/cni/net.d/10-wasmtest.conflist")
		[ -n "$br" ] && ip link del "$br" 2>/dev/null || true
	fi
	if [ -z "${DEVENV_KEEP:-}" ]; then
		rm -rf "$d"
	fi
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
restart-sandboxer) restart_sandboxer "${2:-}" "${3:-TERM}" ;;
kill-sandboxer) kill_sandboxer "${2:?DIR}" "${3:-TERM}" ;;
stop-sandboxer) stop_pid "${2:?DIR}/sandboxer.pid" wasm-sandboxer ;;
start-sandboxer) start_sandboxer "${2:?DIR}" ;;
restart-containerd) restart_containerd "${2:?DIR}" ;;
stop-containerd) stop_pid "${2:?DIR}/containerd.pid" containerd && rm -f "$2/containerd.sock" "$2/containerd.sock.ttrpc" ;;
start-containerd) start_containerd "${2:?DIR}" ;;
*) die "usage: $0 start|stop DIR | restart-sandboxer|kill-sandboxer DIR [TERM|KILL] | stop-sandboxer|start-sandboxer DIR | restart-containerd|stop-containerd|start-containerd DIR" ;;
esac
