package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinksNoContainerd: the worker starts on every pool refill and runs a
// guest; it links no containerd, ttrpc or gRPC package (nor the task
// service, the runtimes' daemon side or the sandboxer).
func TestLinksNoContainerd(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed %d packages: %q", len(deps), out)
	}
	const self = "github.com/wasm-sandboxer/wasm-sandboxer/"
	banned := []string{"github.com/containerd/", "ttrpc", "google.golang.org/grpc",
		self + "task", self + "runtime", self + "sandboxer", self + "podserver", self + "endpoint"}
	for _, d := range deps {
		for _, b := range banned {
			if strings.HasPrefix(d, b) || (b == "ttrpc" && strings.Contains(d, b)) {
				t.Errorf("the worker links %s", d)
			}
		}
	}
}

// BenchmarkExecToHello times what every pool refill pays before a worker
// can confine itself: exec, the Go runtime's start, every package's init,
// and main up to reading its hello (given EOF here, so it exits at once).
// WORKER_BINARY times another build (e.g. an older one) instead:
//
//	go test -run '^$' -bench ExecToHello -benchtime 200x ./cmd/wasm-sandboxer-worker/
func BenchmarkExecToHello(b *testing.B) {
	bin := os.Getenv("WORKER_BINARY")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "wasm-sandboxer-worker")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	b.ResetTimer()
	for range b.N {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		w.Close()
		cmd := exec.Command(bin)
		cmd.ExtraFiles = []*os.File{r} // fd 3: the control socket, at EOF
		err = cmd.Run()
		r.Close()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			b.Fatalf("worker exited %d (%v), want 1 (no hello)", code, err)
		}
	}
}
