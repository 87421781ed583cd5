package main

import (
	"os/exec"
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
