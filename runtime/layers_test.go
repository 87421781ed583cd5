package runtime_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wasm-sandboxer/wasm-sandboxer/"

// deps lists the packages pkgs link (go list -deps), this module's only,
// without the module prefix.
func deps(t *testing.T, pkgs ...string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %v: %v", pkgs, err)
	}
	got := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(p, module); ok {
			got[rest] = true
		}
	}
	if len(got) == 0 {
		t.Fatalf("go list -deps %v listed none of this module's packages", pkgs)
	}
	return got
}

// TestHostsAreApart: each runtime imports the engine and the contract,
// never the other runtime; the task service and the engine import no
// runtime implementation.
func TestHostsAreApart(t *testing.T) {
	for _, tc := range []struct{ pkg, banned string }{
		{"runtime/forked", "runtime/goroutine"},
		{"runtime/goroutine", "runtime/forked"},
		{"task", "runtime/goroutine"},
		{"task", "runtime/forked"},
		{"engine", "runtime"},
		{"engine", "task"},
		{"worker", "runtime/forked"},
	} {
		if d := deps(t, module+tc.pkg); d[tc.banned] {
			t.Errorf("%s links %s", tc.pkg, tc.banned)
		}
	}
}

// TestTestHelpersOnlyInTests: test helpers and test modules
// (internal/testing/...) are linked by no program.
func TestTestHelpersOnlyInTests(t *testing.T) {
	for p := range deps(t, module+"cmd/...") {
		if strings.HasPrefix(p, "internal/testing/") {
			t.Errorf("a program links the test helper %s", p)
		}
	}
}
