#!/usr/bin/env bash
# A single-node Kubernetes on loopback, next to a hack/devenv.sh environment.
#
#   hack/devenv.sh start DIR && hack/k8s.sh up DIR   start it (make k8s-up)
#   hack/k8s.sh env DIR                              print KUBECONFIG and PATH to eval
#   hack/k8s.sh down DIR && hack/devenv.sh stop DIR  tear it down (make k8s-down)
#
# up runs etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy (iptables mode) from _output/bin
# (hack/k8s/build.sh) against the devenv's containerd, with their certificates,
# configs, logs (NAME.log) and pids under DIR/k8s. The node is "localhost",
# labelled for manifests/base's RuntimeClasses; every component listens on
# 127.0.0.1 only, on ports picked free at start. Pods run on the devenv's CNI
# bridge; images must already be in containerd's k8s.io namespace (nothing is
# pulled: use imagePullPolicy: Never).
#
# down deletes every workload, removes every CRI pod of the devenv, stops the
# components and leaves no process, mount (the kubelet's root dir),
# cgroup or iptables chain (KUBE-*) behind, and puts back the sysctls the
# kubelet changed; then DIR/k8s is removed unless
# DEVENV_KEEP is set. kube-proxy's and the kubelet's iptables chains have
# host-wide names: one cluster per host at a time (up refuses a second).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${WASM_SANDBOXER_BIN:-$top/_output/bin}
service_cidr=10.250.0.0/24 # devenv pod subnets are 10.20-219.0.0/24
service_ip=10.250.0.1      # the first one: the kubernetes Service
node=localhost

die() { echo "k8s: $*" >&2; exit 1; }
log() { echo "k8s: $*" >&2; }

# ---- helpers -------------------------------------------------------------

# free_port: a TCP port nothing listens on (nor already handed out).
taken=" "
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		case "$taken" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			taken+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# start_bg NAME CMD...: start CMD in the background, logging to k/NAME.log.
start_bg() {
	local name=$1
	shift
	"$@" >>"$k/$name.log" 2>&1 &
	echo $! >"$k/$name.pid"
}

# wait_ready NAME SECONDS CMD...: wait until CMD succeeds, or fail saying
# why, with the end of NAME's log.
wait_ready() {
	local name=$1 secs=$2 pid i
	shift 2
	pid=$(cat "$k/$name.pid")
	for i in $(seq 1 $((secs * 4))); do
		"$@" >/dev/null 2>&1 && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$k/$name.log" >&2 || true
			die "$name exited during start; its log: $k/$name.log"
		fi
		sleep 0.25
	done
	tail -n 30 "$k/$name.log" >&2 || true
	die "$name not ready after ${secs}s; its log: $k/$name.log"
}

kubectl() { "$bin/kubectl" --kubeconfig "$k/admin.kubeconfig" "$@"; }

https_ok() { # URL: 200 with the admin client certificate
	curl -sf --max-time 2 --cacert "$k/pki/ca.crt" --cert "$k/pki/admin.crt" --key "$k/pki/admin.key" "$1"
}

# healthz_ok URL: 200 from a component serving a self-signed certificate
# (controller-manager and scheduler make their own in --cert-dir).
healthz_ok() {
	curl -skf --max-time 2 "$1"
}

# ---- certificates (openssl) ------------------------------------------------

# cert NAME CN O SAN USAGE: a key and a certificate signed by the CA.
cert() {
	local name=$1 cn=$2 o=$3 san=$4 usage=$5 subj ext
	subj="/CN=$cn"
	[ -n "$o" ] && subj="/O=$o$subj"
	ext="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage
basicConstraints=critical,CA:FALSE"
	[ -n "$san" ] && ext+=$'\n'"subjectAltName=$san"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$p/$name.key" -subj "$subj" -out "$p/$name.csr" 2>/dev/null
	openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
		-days 30 -extfile <(echo "$ext") -out "$p/$name.crt" 2>/dev/null
	rm -f "$p/$name.csr"
}

make_pki() {
	p=$k/pki
	mkdir -p "$p"
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" \
		-days 30 -subj "/CN=wasm-sandboxer-k8s-ca" 2>/dev/null
	cert apiserver kube-apiserver "" \
		"DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$service_ip" \
		serverAuth
	cert admin admin system:masters "" clientAuth
	cert kubelet "system:node:$node" system:nodes "" clientAuth
	cert kubelet-serving "$node" "" "DNS:$node,IP:127.0.0.1" serverAuth
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
	openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
	openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
}

kubeconfig() { # NAME CERT: k/NAME.kubeconfig for the apiserver with pki/CERT
	cat >"$k/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $k/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $k/pki/$2.crt
    client-key: $k/pki/$2.key
contexts:
- name: local
  context: {cluster: local, user: $2}
current-context: local
EOF
}

# ---- prerequisites ----------------------------------------------------------

need_packages() {
	local need=()
	command -v etcd >/dev/null || need+=(etcd-server)
	command -v iptables >/dev/null || need+=(iptables)
	command -v conntrack >/dev/null || need+=(conntrack)
	command -v openssl >/dev/null || need+=(openssl)
	command -v curl >/dev/null || need+=(curl)
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]} (Debian)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq "${need[@]}" >/dev/null
}

# ---- up ------------------------------------------------------------------------

up() {
	local d=$1
	[ -n "$d" ] || die "usage: $0 up DIR"
	[ "$(id -u)" = 0 ] || die "must run as root (kubelet)"
	[ -S "$d/containerd.sock" ] || die "no devenv in $d: run 'hack/devenv.sh start $d' first"
	d=$(cd "$d" && pwd)
	k=$d/k8s
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
		[ -x "$bin/$b" ] || die "$bin/$b is missing: run 'make k8s-bin' (hack/k8s/build.sh) first"
	done
	[ -e "$k/etcd.pid" ] && die "a cluster already runs in $k: hack/k8s.sh down $d first"
	need_packages
	if iptables -w -t nat -S KUBE-SERVICES >/dev/null 2>&1 || iptables -w -t nat -S KUBE-KUBELET-CANARY >/dev/null 2>&1; then
		die "another cluster's iptables chains (KUBE-*) are on this host: take it down first (hack/k8s.sh down DIR)"
	fi
	mkdir -p "$k"
	local t0=$SECONDS
	local etcd_port etcd_peer api_port cm_port sched_port kubelet_port kubelet_healthz proxy_healthz proxy_metrics
	etcd_port=$(free_port) etcd_peer=$(free_port) api_port=$(free_port) cm_port=$(free_port)
	sched_port=$(free_port) kubelet_port=$(free_port) kubelet_healthz=$(free_port)
	proxy_healthz=$(free_port) proxy_metrics=$(free_port)
	cat >"$k/ports" <<EOF
etcd=$etcd_port
apiserver=$api_port
controller-manager=$cm_port
scheduler=$sched_port
kubelet=$kubelet_port
kubelet-healthz=$kubelet_healthz
kube-proxy-healthz=$proxy_healthz
EOF
	make_pki
	kubeconfig admin admin
	kubeconfig kubelet kubelet

	# etcd: its data in memory, like the devenv's containerd state.
	mkdir -p "$k/etcd"
	mountpoint -q "$k/etcd" || mount -t tmpfs -o mode=0700,size=1g tmpfs "$k/etcd"
	start_bg etcd etcd --name k8s --data-dir "$k/etcd/data" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
		--initial-cluster "k8s=http://127.0.0.1:$etcd_peer" --logger zap
	wait_ready etcd 30 curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health"

	start_bg kube-apiserver "$bin/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--endpoint-reconciler-type none \
		--service-cluster-ip-range "$service_cidr" \
		--authorization-mode AlwaysAllow \
		--client-ca-file "$k/pki/ca.crt" \
		--tls-cert-file "$k/pki/apiserver.crt" --tls-private-key-file "$k/pki/apiserver.key" \
		--service-account-key-file "$k/pki/sa.pub" --service-account-signing-key-file "$k/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--kubelet-client-certificate "$k/pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$k/pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$k/pki/ca.crt" \
		--kubelet-preferred-address-types Hostname \
		--allow-privileged \
		--cert-dir "$k/apiserver"
	wait_ready kube-apiserver 120 https_ok "https://127.0.0.1:$api_port/readyz"

	start_bg kube-controller-manager "$bin/kube-controller-manager" \
		--kubeconfig "$k/admin.kubeconfig" \
		--authentication-kubeconfig "$k/admin.kubeconfig" --authorization-kubeconfig "$k/admin.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$cm_port" \
		--leader-elect=false \
		--controllers '*,-nodeipam,-cloud-node-lifecycle' \
		--service-account-private-key-file "$k/pki/sa.key" --root-ca-file "$k/pki/ca.crt" \
		--cert-dir "$k/controller-manager"
	start_bg kube-scheduler "$bin/kube-scheduler" \
		--kubeconfig "$k/admin.kubeconfig" \
		--authentication-kubeconfig "$k/admin.kubeconfig" --authorization-kubeconfig "$k/admin.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$sched_port" \
		--leader-elect=false \
		--cert-dir "$k/scheduler"
	wait_ready kube-controller-manager 60 healthz_ok "https://127.0.0.1:$cm_port/healthz"
	wait_ready kube-scheduler 60 healthz_ok "https://127.0.0.1:$sched_port/healthz"

	start_kubelet "$d" "$kubelet_port" "$kubelet_healthz"
	wait_ready kubelet 60 curl -sf --max-time 2 "http://127.0.0.1:$kubelet_healthz/healthz"
	wait_ready kubelet 60 kubectl get node "$node"
	set_node_addresses
	wait_ready kubelet 60 kubectl wait --for=condition=Ready --timeout=2s node "$node"

	start_kube_proxy "$d" "$proxy_healthz" "$proxy_metrics"
	wait_ready kube-proxy 60 curl -sf --max-time 2 "http://127.0.0.1:$proxy_healthz/healthz"
	route_services "$d"

	# Pods are refused until the namespace's default ServiceAccount exists.
	wait_ready kube-controller-manager 60 kubectl -n default get serviceaccount default

	log "cluster up in $((SECONDS - t0))s: node $node Ready (eval \"\$(hack/k8s.sh env $d)\")"
}

# The kubelet sets these host-wide sysctls (kernel.panic_on_oops=1 among
# them: setupKernelTunables); up saves them and down puts them back.
kubelet_sysctls="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

save_sysctls() {
	local s
	[ -f "$k/sysctls" ] && return 0
	for s in $kubelet_sysctls; do echo "$s $(cat "/proc/sys/$s")"; done >"$k/sysctls"
}

restore_sysctls() {
	local s v
	[ -f "$k/sysctls" ] || return 0
	while read -r s v; do
		[ "$(cat "/proc/sys/$s")" = "$v" ] || echo "$v" >"/proc/sys/$s" || log "cannot restore $s to $v"
	done <"$k/sysctls"
}

start_kubelet() { # DIR PORT HEALTHZPORT
	local d=$1 cg
	save_sysctls
	# The pods' cgroups go under a root of this cluster's own (not /kubepods
	# of the host), so down removes exactly what this kubelet made.
	cg=wasm-k8s-$(printf '%s' "$d" | cksum | cut -d' ' -f1)
	echo "/$cg" >"$k/cgroup-root"
	make_cgroup_root "$cg"
	mkdir -p "$k/kubelet" "$k/pod-logs" "$k/volume-plugins"
	cat >"$k/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $2
healthzBindAddress: 127.0.0.1
healthzPort: $3
readOnlyPort: 0
containerRuntimeEndpoint: unix://$d/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$cg
failSwapOn: false
podLogsDirectory: $k/pod-logs
volumePluginDir: $k/volume-plugins
tlsCertFile: $k/pki/kubelet-serving.crt
tlsPrivateKeyFile: $k/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $k/pki/ca.crt}
authorization: {mode: AlwaysAllow}
# Nothing is pulled, nothing may be collected: images are imported.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
resolvConf: ""
clusterDomain: cluster.local
EOF
	# --node-ip 127.0.0.1: otherwise the kubelet picks the VM's address. It
	# refuses a loopback node IP when it sets the node's addresses (and logs
	# so), so set_node_addresses sets them once, and they stay.
	# The label is the installer's (manifests/base): the daemon serves.
	start_bg kubelet "$bin/kubelet" \
		--config "$k/kubelet.yaml" \
		--kubeconfig "$k/kubelet.kubeconfig" \
		--hostname-override "$node" --node-ip 127.0.0.1 \
		--node-labels wasm-sandboxer.io/ready=true \
		--root-dir "$k/kubelet" --cert-dir "$k/kubelet-pki"
}

set_node_addresses() {
	kubectl patch node "$node" --subresource=status --type=merge \
		-p '{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"'"$node"'"}]}}' >/dev/null
}

start_kube_proxy() { # DIR HEALTHZPORT METRICSPORT
	local d=$1 cidr
	cidr=$(sed -n 's/.*"subnet": "\([0-9./]*\)".*/\1/p' "$d/cni/net.d/10-wasmtest.conflist")
	kubeconfig kube-proxy admin
	# The conntrack zeros leave the host's sysctls alone. NodePorts only on
	# the devenv bridge's address (the pod subnet's gateway), never on the
	# VM's; not on localhost either (that needs route_localnet, a host-wide
	# sysctl).
	cat >"$k/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $k/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $node
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$2
metricsBindAddress: 127.0.0.1:$3
clusterCIDR: $cidr
nodePortAddresses: ["$cidr"]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
	start_bg kube-proxy "$bin/kube-proxy" --config "$k/kube-proxy.yaml"
}

# route_services: the Service range through the devenv bridge, from the
# bridge's address. Without it the host reaches a ClusterIP by its default
# route, and a client on the node (curl, the tests) would send from the
# VM's own address. The bridge is made here, before the first pod, exactly
# as CNI's bridge plugin makes it (gateway = the subnet's first address),
# which the plugin then adopts; devenv.sh stop deletes it, and the route
# with it.
route_services() {
	local d=$1 conf br subnet gw
	conf=$d/cni/net.d/10-wasmtest.conflist
	br=$(sed -n 's/.*"bridge": "\(wasmbr[0-9]*\)".*/\1/p' "$conf")
	subnet=$(sed -n 's/.*"subnet": "\([0-9./]*\)".*/\1/p' "$conf")
	[ -n "$br" ] && [ -n "$subnet" ] || die "no bridge or subnet in $conf"
	gw=${subnet%.0/*}.1
	ip link show "$br" >/dev/null 2>&1 || ip link add name "$br" type bridge
	ip -4 addr show dev "$br" | grep -q " $gw/" || ip addr add "$gw/${subnet#*/}" dev "$br"
	ip link set "$br" up
	ip route replace "$service_cidr" dev "$br" src "$gw"
}

# cgroup v1: the root in every hierarchy; cpuset needs cpus and mems.
make_cgroup_root() {
	local cg=$1 h
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		mkdir -p "/sys/fs/cgroup/$cg"
		return
	fi
	for h in /sys/fs/cgroup/*/; do
		[ -d "$h" ] || continue
		case "$h" in */unified/) continue ;; esac
		mkdir -p "$h$cg"
	done
	if [ -d /sys/fs/cgroup/cpuset/$cg ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$cg/cpuset.cpus"
		cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$cg/cpuset.mems"
	fi
}

# ---- down ----------------------------------------------------------------------

stop_pid() { # NAME
	local f=$k/$1.pid pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$f"
}

alive() { [ -f "$k/$1.pid" ] && kill -0 "$(cat "$k/$1.pid")" 2>/dev/null; }

down() {
	local d=$1 left=0
	[ -n "$d" ] || die "usage: $0 down DIR"
	[ -d "$d/k8s" ] || return 0
	d=$(cd "$d" && pwd)
	k=$d/k8s
	# Workloads first (controllers, then their pods), while the kubelet
	# runs to stop them.
	if alive kube-apiserver && alive kubelet && [ -S "$d/containerd.sock" ]; then
		kubectl delete deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs --all -A --wait=false >/dev/null 2>&1 || true
		kubectl delete pods --all -A --grace-period=5 --timeout=60s >/dev/null 2>&1 ||
			log "pods not all deleted in 60s; removing them through CRI"
	fi
	stop_pid kube-proxy
	if [ -x "$bin/kube-proxy" ] && [ -f "$k/kube-proxy.yaml" ]; then
		"$bin/kube-proxy" --cleanup --config "$k/kube-proxy.yaml" >>"$k/kube-proxy.log" 2>&1 || true
	fi
	stop_pid kubelet
	restore_sysctls
	# What the kubelet left in containerd: every CRI pod of the devenv.
	if [ -S "$d/containerd.sock" ] && [ -x "$bin/crictl" ]; then
		"$bin/crictl" --runtime-endpoint "unix://$d/containerd.sock" rmp -af >/dev/null 2>&1 || true
	fi
	stop_pid kube-scheduler
	stop_pid kube-controller-manager
	stop_pid kube-apiserver
	stop_pid etcd
	remove_iptables_chains
	# The kubelet bind-mounts its root dir onto itself; pod volumes (the
	# service account token tmpfs) and etcd's tmpfs are below it. Deepest first.
	awk -v d="$k/" 'index($5, d) == 1 || $5 == substr(d, 1, length(d) - 1) {print $5}' /proc/self/mountinfo |
		sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	if awk -v d="$k/" 'index($5, d) == 1 {f=1} END {exit !f}' /proc/self/mountinfo; then
		log "mounts left under $k:"; awk -v d="$k/" 'index($5, d) == 1 {print "  " $5}' /proc/self/mountinfo >&2; left=1
	fi
	[ -f "$k/cgroup-root" ] && { remove_cgroup_root "$(cat "$k/cgroup-root")" || left=1; }
	if [ -z "${DEVENV_KEEP:-}" ]; then
		rm -rf "$k"
	fi
	[ "$left" = 0 ] || die "down left the above behind"
}

# remove_iptables_chains: every KUBE-* chain (kube-proxy --cleanup leaves
# the kubelet's KUBE-KUBELET-CANARY and KUBE-FIREWALL), with the rules
# that jump to them.
remove_iptables_chains() {
	local ipt table rule chain
	for ipt in iptables ip6tables; do
		command -v $ipt >/dev/null || continue
		for table in filter nat mangle raw; do
			{ $ipt -w -t $table -S 2>/dev/null || true; } | { grep -E '^-A [A-Z]+ .*-j KUBE-' || true; } |
				{ grep -vE '^-A KUBE-' || true; } | while read -r rule; do
					# shellcheck disable=SC2086
					$ipt -w -t $table ${rule/-A/-D} 2>/dev/null || true
				done
			for chain in $($ipt -w -t $table -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
				$ipt -w -t $table -F "$chain" 2>/dev/null || true
			done
			for chain in $($ipt -w -t $table -S 2>/dev/null | sed -n 's/^-N \(KUBE-[^ ]*\)$/\1/p'); do
				$ipt -w -t $table -X "$chain" 2>/dev/null || log "$ipt -t $table: cannot remove chain $chain"
			done
		done
	done
}

remove_cgroup_root() { # /NAME
	local cg=$1 h ok=0
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		[ -d "$h${cg#/}" ] || continue
		# Deepest first; a cgroup with a process in it cannot go.
		find "$h${cg#/}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		if [ -d "$h${cg#/}" ]; then
			log "cgroup $h${cg#/} still has: $(find "$h${cg#/}" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
			ok=1
		fi
	done
	return $ok
}

env_cmd() {
	local d=$1
	[ -n "$d" ] && [ -f "$d/k8s/admin.kubeconfig" ] || die "no cluster in ${d:-DIR}: hack/k8s.sh up DIR"
	d=$(cd "$d" && pwd)
	echo "export KUBECONFIG=\"$d/k8s/admin.kubeconfig\""
	echo "export PATH=\"$bin:\$PATH\""
}

case "${1:-}" in
up) up "${2:-}" ;;
down) down "${2:-}" ;;
env) env_cmd "${2:-}" ;;
*) die "usage: $0 up|down|env DIR  (DIR: a hack/devenv.sh environment)" ;;
esac
