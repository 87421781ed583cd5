package goroutine

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
)

// TestModuleOverhead measures what a running module costs the daemon's Go
// heap and stacks besides its linear memory, the figure ModuleOverhead
// estimates for Stats: n instances of the demo module sleeping, the
// compiled code already cached.
func TestModuleOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	rt := newRuntime(t, WithCompilationCache(compiled))
	dir := rootfs(t, map[string][]byte{"demo.wasm": tasktest.DemoModule(t)})
	sleeper := func() *process { return prepare(t, rt, dir, "m", "/demo.wasm", "sleep", "1h") }
	sleeper().Close() // compile outside the measurement
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
		ps[i] = sleeper()
		if err := ps[i].Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Each module has its memory and its thread (60 s: a hang guard).
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range ps {
		for p.mem.Held() == 0 || p.cpu.tid.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("modules not all running after 60s")
			}
			runtime.Gosched()
		}
	}
	var held uint64
	after := inUse()
	for _, p := range ps {
		held += p.mem.Held()
	}
	perModule := (int64(after) - int64(before) - int64(held)) / n
	t.Logf("per running module: %d bytes besides linear memory (%d held by %d modules); ModuleOverhead = %d", perModule, held, n, ModuleOverhead)
	if perModule > 4*ModuleOverhead {
		t.Errorf("measured overhead %d bytes is far above the ModuleOverhead estimate %d: update the estimate", perModule, ModuleOverhead)
	}
	for _, p := range ps {
		p.Kill(context.Background(), syscall.SIGKILL)
		<-p.Done()
	}
}
