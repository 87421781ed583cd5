//go:build linux

package forked

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompromisedWorker: a worker whose runtime is hijacked (simulated by a
// test-only hook, built in with -tags workertesthook, that runs right after
// confinement) cannot run programs, make processes or sockets, see host or
// proc files, mount, chroot, make namespaces, trace, or write its root.
func TestCompromisedWorker(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker-hooked")
	cmd := exec.Command("go", "build", "-tags", "workertesthook", "-o", bin, "github.com/wasm-sandboxer/wasm-sandboxer/cmd/wasm-sandboxer-worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hooked worker: %v\n%s", err, out)
	}
	rt := newRuntimePool(t, 0)
	rt.cfg.WorkerBinary = bin
	_, err := rt.start("")
	if err == nil || !strings.Contains(err.Error(), "testhook: ") {
		t.Fatalf("hooked worker: %v", err)
	}
	got := map[string]string{}
	for _, kv := range strings.Fields(err.Error()[strings.Index(err.Error(), "testhook: ")+len("testhook: "):]) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			got[k] = strings.TrimSuffix(v, ":")
		}
	}
	want := map[string]string{
		"execve": "EPERM", "forkexec": "EPERM", "socket-inet": "EPERM", "socket-unix": "EPERM",
		"read-host-file": "ENOENT", "read-proc": "ENOENT", "mount": "EPERM", "chroot": "EPERM",
		"unshare-user": "EPERM", "ptrace": "EPERM", "write-root": "EROFS",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
