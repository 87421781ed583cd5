package wazero

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
	"github.com/wasm-sandboxer/wasm-sandboxer/task/tasktest"
)

// TestModuleOverhead measures what a running module costs the daemon's Go
// heap and stacks besides its linear memory, the figure ModuleOverhead
// estimates for Stats: n instances of the demo module sleeping, the
// compiled code already cached.
func TestModuleOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	rt, err := New(context.Background(), WithCompilationCache(compiled))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "demo.wasm"), tasktest.DemoModule(t), 0o644); err != nil {
		t.Fatal(err)
	}
	prepare := func() *process {
		p, err := rt.Prepare(context.Background(), task.ProcessSpec{ID: "m", Rootfs: dir, Config: wasispec.Config{
			Args: []string{"/demo.wasm", "sleep", "1h"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit,
		}})
		if err != nil {
			t.Fatal(err)
		}
		return p.(*process)
	}
	warm := prepare() // compile outside the measurement
	warm.Close()
	inUse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	const n = 20
	before := inUse()
	ps := make([]*process, n)
	for i := range ps {
		ps[i] = prepare()
		if err := ps[i].Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var held uint64
	for _, p := range ps {
		for p.mem.held.Load() == 0 || p.cpu.tid.Load() == 0 {
			runtime.Gosched()
		}
	}
	// Let each module reach its sleep.
	for _, p := range ps {
		st, _ := p.Stats(context.Background())
		_ = st
	}
	after := inUse()
	for _, p := range ps {
		held += p.mem.held.Load()
	}
	perModule := (int64(after) - int64(before) - int64(held)) / n
	t.Logf("per running module: %d bytes besides linear memory (%d held by %d modules); ModuleOverhead = %d", perModule, held, n, ModuleOverhead)
	if perModule > 4*ModuleOverhead {
		t.Errorf("measured overhead %d bytes is far above the ModuleOverhead estimate %d: update the estimate", perModule, ModuleOverhead)
	}
	for _, p := range ps {
		p.Kill(context.Background(), syscall.SIGKILL)
		<-p.Done()
		p.Close()
	}
}
