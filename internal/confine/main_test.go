//go:build linux

package confine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Everything that confines a process runs in a child built from
// testdata/child, never in the test binary: filters and dropped
// capabilities cannot be undone, and the test binary may use cgo (-race),
// where syscall.AllThreadsSyscall is unavailable. TestMain builds the child
// with CGO_ENABLED=0, and the demo guest for wasip1.
var children struct {
	child, demo string // paths of the built child and demo.wasm
	skip        string // why the child cannot be built here
	err         error  // the build failed
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "confine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "confine tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	children.child, children.demo = filepath.Join(dir, "child"), filepath.Join(dir, "demo.wasm")
	children.skip, children.err = buildChildren(children.child, children.demo)
	return m.Run()
}

// buildChildren builds testdata/child (CGO_ENABLED=0) and hack/wasm/demo
// (wasip1) into the given paths.
func buildChildren(child, demo string) (skip string, err error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "the go tool is not in PATH, cannot build testdata/child: " + err.Error(), nil
	}
	for _, b := range []struct {
		out, pkg string
		env      []string
	}{
		{child, "./testdata/child", []string{"CGO_ENABLED=0"}},
		{demo, "github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/demo", []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}},
	} {
		cmd := exec.Command(goTool, "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), b.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return "", nil
}

// runChild runs scenario in a new child process and returns its results.
func runChild(t *testing.T, scenario string) map[string]string {
	t.Helper()
	return runChildAttr(t, scenario, nil)
}

// runChildAttr is runChild with process attributes for the child.
func runChildAttr(t *testing.T, scenario string, attr *syscall.SysProcAttr) map[string]string {
	t.Helper()
	if children.skip != "" {
		t.Skip(children.skip)
	}
	if children.err != nil {
		t.Fatal(children.err)
	}
	if auditArch == 0 && scenario != "caps" && scenario != "rlimits" {
		t.Skip(ErrUnsupportedArch)
	}
	// A guard against a hung child, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, children.child, scenario, t.TempDir(), children.demo)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = attr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\nstderr:\n%s", scenario, err, stderr.String())
	}
	res := map[string]string{}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("child %s: results %q: %v\nstderr:\n%s", scenario, stdout.String(), err, stderr.String())
	}
	return res
}

// requireRoot skips tests that need privileges the seccomp tests do not.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SETPCAP) to drop the bounding set")
	}
}

// expect fails t for each key of want whose result differs.
func expect(t *testing.T, res map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got, ok := res[k]; !ok {
			t.Errorf("%s: no result, want %q", k, v)
		} else if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
