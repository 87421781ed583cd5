package sandboxapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInternalImportsNoUpperLayer: no package under internal/ links the
// daemon's upper layers (the controller, the endpoint, the pod server,
// the programs): internal/ is what those are built from, and an arrow back
// up (runtimebin once imported sandboxer) drags the daemon into every
// program that links internal/.
func TestInternalImportsNoUpperLayer(t *testing.T) {
	const module = "github.com/wasm-sandboxer/wasm-sandboxer/"
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list packages with")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}}`, module+"internal/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(pkg, module)
		if !ok {
			continue
		}
		for _, upper := range []string{"sandboxer", "endpoint", "podserver", "cmd/"} {
			if rest == upper || strings.HasPrefix(rest, strings.TrimSuffix(upper, "/")+"/") {
				t.Errorf("a package under internal/ depends on %s", pkg)
			}
		}
	}
}
