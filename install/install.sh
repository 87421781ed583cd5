#!/bin/sh
# install.sh: install wasm-sandboxer on a node whose root filesystem is at
# $HOST_ROOT, and register it with the node's containerd (2.x).
#
# In Kubernetes it runs as the DaemonSet's init container (privileged,
# hostPID, the node's / mounted at /host). On a bare host:
#   sudo HOST_ROOT=/ HOST_EXEC= BIN_SRC=_output/bin install/install.sh
#
# Idempotent: a file is written only when its content changes, the import
# line is added to containerd's config only when missing (nothing else of
# that file is touched), and containerd is restarted only when its
# configuration changed. Environment:
#   HOST_ROOT   the node's root as this script sees it (default /host)
#   HOST_EXEC   the prefix that runs a command on the node, in its
#               namespaces (default: nsenter into PID 1's); empty on a bare
#               host
#   SRC         where the unit and the containerd drop-in are (default:
#               this script's dir); BIN_SRC the binaries (default $SRC/bin)
#   BIN_DIR     the node's directory for the binaries (default
#               /usr/local/bin: on containerd's PATH)
#   CONTAINERD_CONFIG, DROPIN   containerd's config and our drop-in
#   WASM_SANDBOXER_OPTS  when set, the daemon's extra flags, written to the
#               node's /etc/default/wasm-sandboxer (e.g. --metrics-address)
#   NODE_NAME, NODE_LABEL       label NODE_NAME with NODE_LABEL once the
#               daemon serves (default wasm-sandboxer.io/ready=true);
#               skipped when NODE_NAME is empty
set -eu

HOST_ROOT=${HOST_ROOT:-/host}
HOST_EXEC=${HOST_EXEC-nsenter --target 1 --mount --uts --ipc --net --pid --}
SRC=${SRC:-$(cd "$(dirname "$0")" && pwd)}
BIN_SRC=${BIN_SRC:-$SRC/bin}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
CONTAINERD_CONFIG=${CONTAINERD_CONFIG:-/etc/containerd/config.toml}
DROPIN=${DROPIN:-/etc/containerd/conf.d/wasm-sandboxer.toml}
UNIT=${UNIT:-/etc/systemd/system/wasm-sandboxer.service}
SOCKET=/run/wasm-sandboxer/sandboxer.sock
NODE_NAME=${NODE_NAME:-}
NODE_LABEL=${NODE_LABEL:-wasm-sandboxer.io/ready=true}
BINARIES="wasm-sandboxer wasm-sandboxer-worker containerd-shim-wasm-v1"

log() { echo "install: $*" >&2; }
die() { echo "install: $*" >&2; exit 1; }
host() { $HOST_EXEC "$@"; } # a command on the node

# put SRC DEST MODE: write DEST (a path on the node) when its content
# differs from SRC; say "changed" if it did. Atomic: a temp file renamed.
put() {
	dest=$HOST_ROOT$2
	if [ -f "$dest" ] && [ "$(sha256sum <"$1")" = "$(sha256sum <"$dest")" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$dest")"
	cp "$1" "$dest.tmp.$$"
	chmod "$3" "$dest.tmp.$$"
	mv -f "$dest.tmp.$$" "$dest"
	log "wrote $2"
	echo changed
}

# add_import: make containerd's config import the drop-in, touching
# nothing else of it. Prints "changed" when it wrote the file.
add_import() {
	cfg=$HOST_ROOT$CONTAINERD_CONFIG
	if [ ! -e "$cfg" ]; then
		mkdir -p "$(dirname "$cfg")"
		printf 'version = 3\nimports = ["%s"]\n' "$DROPIN" >"$cfg.tmp.$$"
		mv -f "$cfg.tmp.$$" "$cfg"
		log "wrote $CONTAINERD_CONFIG (there was none): containerd's defaults plus the drop-in"
		echo changed
		return 0
	fi
	if ! grep -Eq '^[[:space:]]*version[[:space:]]*=[[:space:]]*([3-9]|[1-9][0-9])([[:space:]]|#|$)' "$cfg"; then
		die "$CONTAINERD_CONFIG is not a version 3 config (no 'version = 3' line): the drop-in needs containerd 2.x's version 3. Migrate it first: containerd config migrate"
	fi
	if grep -qF "\"$DROPIN\"" "$cfg" || grep -qF "'$DROPIN'" "$cfg"; then
		return 0 # imported already
	fi
	[ -e "$cfg.orig-wasm-sandboxer" ] || cp -p "$cfg" "$cfg.orig-wasm-sandboxer"
	cp -p "$cfg" "$cfg.tmp.$$"
	# A top-level `imports = [` before the first table gets our path as its
	# first element; without one, a new `imports` line goes on top (a key
	# before any table header is top-level).
	awk -v path="$DROPIN" '
		!done && /^[[:space:]]*\[/ { intable = 1 }
		!done && !intable && /^[[:space:]]*imports[[:space:]]*=[[:space:]]*\[/ {
			sub(/\[/, "[\"" path "\", ")
			sub(/, *\]/, "]")
			done = 1
		}
		{ lines[NR] = $0 }
		END {
			if (!done) print "imports = [\"" path "\"] # added by wasm-sandboxer install.sh"
			for (i = 1; i <= NR; i++) print lines[i]
		}' "$cfg" >"$cfg.tmp.$$"
	mv -f "$cfg.tmp.$$" "$cfg"
	log "added $DROPIN to the imports of $CONTAINERD_CONFIG (the original is in $CONTAINERD_CONFIG.orig-wasm-sandboxer)"
	echo changed
}

for b in $BINARIES; do
	[ -x "$BIN_SRC/$b" ] || die "$BIN_SRC/$b is missing"
done
[ -f "$SRC/wasm-sandboxer.service" ] || die "$SRC/wasm-sandboxer.service is missing"
[ -f "$SRC/wasm-sandboxer.toml" ] || die "$SRC/wasm-sandboxer.toml is missing"
[ -d "$HOST_ROOT" ] || die "HOST_ROOT $HOST_ROOT is not a directory (is the node's / mounted?)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

daemon_changed=
for b in $BINARIES; do
	c=$(put "$BIN_SRC/$b" "$BIN_DIR/$b" 0755)
	[ -z "$c" ] || daemon_changed=1
done
sed "s#/usr/local/bin/#$BIN_DIR/#g" "$SRC/wasm-sandboxer.service" >"$tmp/unit"
unit_changed=$(put "$tmp/unit" "$UNIT" 0644)
if [ -n "${WASM_SANDBOXER_OPTS+set}" ]; then
	case $WASM_SANDBOXER_OPTS in *[\"\$\`\\]*) die "WASM_SANDBOXER_OPTS must not hold quotes, \$, \` or backslashes" ;; esac
	printf '# Written by wasm-sandboxer install.sh from WASM_SANDBOXER_OPTS.\nWASM_SANDBOXER_OPTS="%s"\n' "$WASM_SANDBOXER_OPTS" >"$tmp/opts"
	c=$(put "$tmp/opts" /etc/default/wasm-sandboxer 0644)
	[ -z "$c" ] || daemon_changed=1
fi
containerd_changed=$(put "$SRC/wasm-sandboxer.toml" "$DROPIN" 0644)
c=$(add_import)
[ -z "$c" ] || containerd_changed=1

if [ -n "$unit_changed" ]; then
	host systemctl daemon-reload
fi
host systemctl enable wasm-sandboxer.service
if [ -n "$daemon_changed$unit_changed" ]; then
	log "restarting wasm-sandboxer (forked pods run on)"
	host systemctl restart wasm-sandboxer.service
else
	host systemctl start wasm-sandboxer.service
fi
host "$BIN_DIR/wasm-sandboxer" status -q --address "$SOCKET" --timeout 60s ||
	die "wasm-sandboxer does not answer on $SOCKET: see journalctl -u wasm-sandboxer on the node"
if [ -n "$containerd_changed" ]; then
	log "containerd's configuration changed: restarting containerd"
	host systemctl restart containerd.service
else
	log "containerd's configuration unchanged: containerd not restarted"
fi

if [ -n "$NODE_NAME" ]; then
	"$BIN_SRC/wasm-sandboxer" label-node --node "$NODE_NAME" "$NODE_LABEL"
	log "labelled node $NODE_NAME $NODE_LABEL"
fi
log "done"
