//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
	"github.com/wasm-sandboxer/wasm-sandboxer/task/tasktest"
)

// workerBinary is wasm-sandboxer-worker, built once for the test binary,
// without cgo (and without -race: it must be pure Go to drop capabilities
// on every thread).
var workerBinary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "runtime/forked tests need root: workers are started in new user, mount and pid namespaces and cgroups")
		return 1
	}
	dir, err := os.MkdirTemp("", "forked-worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workerBinary = filepath.Join(dir, "wasm-sandboxer-worker")
	cmd := exec.Command("go", "build", "-o", workerBinary, "github.com/wasm-sandboxer/wasm-sandboxer/cmd/wasm-sandboxer-worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build worker: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// newRuntime is a forked runtime whose compiler (the goroutine runtime)
// writes the on-disk cache its workers read.
func newRuntime(t *testing.T) task.Runtime {
	state, err := os.MkdirTemp("", "forked-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	cacheDir := filepath.Join(state, "compile-cache")
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	compiler, err := runwazero.New(context.Background(), runwazero.WithCompilationCache(cache))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { compiler.Close(context.Background()) })
	rt, err := New(Config{WorkerBinary: workerBinary, StateDir: state, CacheDir: cacheDir, Compiler: compiler,
		CgroupParent: "wasm-sandboxer-test"})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestConformance runs the task conformance table, unchanged, against
// the forked runtime.
func TestConformance(t *testing.T) {
	tasktest.Run(t, newRuntime)
}
