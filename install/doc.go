// Package install holds what puts wasm-sandboxer on a node: install.sh
// (run by the DaemonSet's init container, or by hand on a bare host), the
// systemd unit and containerd's drop-in. Its tests run install.sh against
// a fake node root in a temp dir, with stub nsenter and systemctl.
package install
