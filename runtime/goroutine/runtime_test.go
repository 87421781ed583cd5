package goroutine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// compiled is shared by the table's runtimes so the demo module is
// compiled once per test binary, not once per case.
var compiled = wazero.NewCompilationCache()

// newRuntime is a Runtime with opts, closed at the end of the test.
func newRuntime(t *testing.T, opts ...Option) *Runtime {
	t.Helper()
	rt, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	return rt
}

// rootfs is a directory holding files.
func rootfs(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// prepare prepares process id of args in the rootfs dir; it is closed at
// the end of the test.
func prepare(t *testing.T, rt *Runtime, dir, id string, args ...string) *process {
	t.Helper()
	p, err := rt.Prepare(context.Background(), runtime.ProcessSpec{ID: id, Rootfs: dir, Config: wasispec.Config{
		Args: args, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p.(*process)
}

// TestConformance runs the task conformance table against the goroutine
// runtime.
func TestConformance(t *testing.T) {
	tasktest.Run(t, tasktest.Capabilities{Pause: false, Stats: true}, func(t *testing.T) runtime.Runtime { return newRuntime(t, WithCompilationCache(compiled)) })
}

// TestSecondContainerDoesNotCompile: the compiled module is cached by the
// digest of its bytes, so a second container of the same module is a hit,
// and a different module is a miss.
func TestSecondContainerDoesNotCompile(t *testing.T) {
	rt := newRuntime(t)
	ctx := context.Background()
	container := func(module string) *process { return prepare(t, rt, rootfs(t, tiny.Modules()), module, module) }
	container("/hello.wasm")
	if h, m := rt.CacheStats(); h != 0 || m != 1 {
		t.Fatalf("first: hits %d misses %d, want 0/1", h, m)
	}
	p := container("/hello.wasm")
	if h, m := rt.CacheStats(); h != 1 || m != 1 {
		t.Fatalf("second: hits %d misses %d, want 1/1", h, m)
	}
	container("/exit42.wasm")
	if h, m := rt.CacheStats(); h != 1 || m != 2 {
		t.Fatalf("other module: hits %d misses %d, want 1/2", h, m)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	if e := p.Exit(); e.Code != 0 {
		t.Fatalf("cached module exit %d (%s)", e.Code, e.Reason)
	}
}

func TestModuleCacheEvictsOnlyUnused(t *testing.T) {
	rt := newRuntime(t)
	c := newModuleCache(rt.rt, 1)
	ctx := context.Background()
	mods := tiny.Modules()
	a, err := c.get(ctx, "a", func() ([]byte, error) { return mods["hello.wasm"], nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.get(ctx, "b", func() ([]byte, error) { return mods["exit42.wasm"], nil }); err != nil {
		t.Fatal(err)
	}
	// Both are in use: nothing may be evicted even above the bound.
	c.release("b")
	if _, ok := c.entries["a"]; !ok {
		t.Fatal("module in use was evicted")
	}
	if _, ok := c.entries["b"]; ok {
		t.Fatal("unused module above the bound was kept")
	}
	if a == nil {
		t.Fatal("no compiled module")
	}
	c.release("a")
	if len(c.entries) != 1 {
		t.Fatalf("%d entries, want 1 (the bound)", len(c.entries))
	}
}

// TestCloseEndsModulesAsStopped: a module still running when the daemon
// closes its runtime never reports a normal exit.
func TestCloseEndsModulesAsStopped(t *testing.T) {
	rt := newRuntime(t)
	p := prepare(t, rt, rootfs(t, map[string][]byte{"spin.wasm": tiny.Modules()["spin.wasm"]}), "spin", "/spin.wasm")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.Close(context.Background())
	<-p.Done()
	if e := p.Exit(); e.Code != ExitDaemonStopped || e.Reason == "" {
		t.Fatalf("exit %d (%q), want %d with a reason", e.Code, e.Reason, ExitDaemonStopped)
	}
}
