//go:build linux

package forked

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/testutil"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// workerBinary is wasm-sandboxer-worker, built once for the test binary,
// without cgo (and without -race: it must be pure Go to drop capabilities
// on every thread). cacheDir and cache are the compiled-code cache every
// runtime of the test binary shares, so the demo module is compiled once.
var (
	workerBinary   string
	sharedCacheDir string
	cache          wazero.CompilationCache
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if !testutil.IsRoot() {
		return m.Run() // each test that needs root skips (requiresRoot)
	}
	dir, err := os.MkdirTemp("", "forked-worker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	workerBinary = filepath.Join(dir, "wasm-sandboxer-worker")
	sharedCacheDir = filepath.Join(dir, "compile-cache")
	if cache, err = wazero.NewCompilationCacheWithDir(sharedCacheDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := buildWorker(workerBinary); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildWorker builds wasm-sandboxer-worker to out, pure Go, with the build
// tags given.
func buildWorker(out string, tags ...string) error {
	// wazero keys its compile cache by its version, which it reads from
	// the binary's build info: "dev" in a test binary, the module's version
	// in a built program. The worker is told this binary's, so it reads
	// the machine code the tests' compiler wrote, as a shipped worker reads
	// its pod server's (TestWorkersReadSharedCode).
	args := []string{"build", "-o", out, "-ldflags", "-X github.com/tetratelabs/wazero/internal/version.version=" + wazeroVersion()}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, "github.com/wasm-sandboxer/wasm-sandboxer/cmd/wasm-sandboxer-worker")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build worker %v: %v\n%s", tags, err, b)
	}
	return nil
}

// wazeroVersion is the version wazero finds for itself in this binary
// (its internal/version.GetWazeroVersion).
func wazeroVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == "github.com/tetratelabs/wazero" && d.Version != "" && d.Version != "(devel)" {
				return d.Version
			}
		}
	}
	return "dev"
}

// newRuntime is a forked runtime with a pool of two idle workers, whose
// compiler (engine.Compiler, as a pod server's) writes the on-disk cache its workers
// read.
func newRuntime(t *testing.T) runtime.Runtime { return newRuntimePool(t, 2) }

// newRuntimePool is newRuntime with a pool of size workers (0: none).
func newRuntimePool(t testing.TB, size int) *Runtime {
	return newRuntimeWith(t, Config{PoolSize: size})
}

// newRuntimeWith is a runtime of the tests' worker, state, cache and cgroup
// parent, with cfg's pool size, idle time and spare parent.
func newRuntimeWith(t testing.TB, cfg Config) *Runtime {
	requiresRoot(t)
	state, err := os.MkdirTemp("", "forked-state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	compiler, err := engine.NewCompiler(context.Background(), cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { compiler.Close(context.Background()) })
	rt, err := New(Config{WorkerBinary: workerBinary, StateDir: state, CacheDir: sharedCacheDir, Compiler: compiler,
		CgroupParent: "wasm-sandboxer-test", PoolSize: cfg.PoolSize, SpareParent: cfg.SpareParent, PoolIdle: cfg.PoolIdle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		unix.Unmount(rt.jobsDir, unix.MNT_DETACH)
		// Every test runs the path that ships: workers read the machine
		// code their pod's compiler wrote to the shared cache.
		if n := rt.WorkerCompiles(); n > 0 {
			t.Errorf("%d workers compiled their module themselves: the shared compiled-code cache was missed", n)
		}
	})
	return rt
}

// TestConformance runs the task conformance table, unchanged, against
// the forked runtime, with a pool of warm workers and without.
func TestConformance(t *testing.T) {
	t.Run("pool", func(t *testing.T) { tasktest.Run(t, capabilities, newRuntime) })
	t.Run("no pool", func(t *testing.T) {
		tasktest.Run(t, capabilities, func(t *testing.T) runtime.Runtime { return newRuntimePool(t, 0) })
	})
}

// capabilities are what the forked runtime declares to the conformance
// table: its workers are processes, so SIGSTOP pauses them and their cgroup
// accounts them.
var capabilities = tasktest.Capabilities{Pause: true, Stats: true}

// requiresRoot skips a test without root: workers are started in new user,
// mount and pid namespaces and cgroups.
func requiresRoot(t testing.TB) {
	t.Helper()
	testutil.RequiresRoot(t, "forked workers start in new user, mount and pid namespaces and cgroups")
}
