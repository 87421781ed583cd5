package engine_test

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// TestInterruptibleEndsSpinningGuest: a guest spinning in a loop that
// calls no host function ends when its context is cancelled, on an
// interruptible engine (the goroutine runtime's): the in-guest checks of
// the wazero carried in third_party/wazero (a countdown that exits to Go
// every 4,096 loop heads or function entries) still see the cancel, also
// with a single P, where the goroutine that closes the module must be
// scheduled while the guest spins, and while the garbage collector runs.
// The 10 s are a hang guard; bench figure 8 reports the latency.
func TestInterruptibleEndsSpinningGuest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		procs int
		gc    bool
	}{{"GOMAXPROCS=2", 2, false}, {"GOMAXPROCS=1", 1, false}, {"while GC runs", 2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(tc.procs))
			ctx := context.Background()
			rt, err := engine.New(ctx, wazero.NewCompilationCache(), engine.Interruptible())
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(ctx)
			compiled, err := engine.Compile(ctx, rt, tiny.Modules()["spin.wasm"])
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- engine.Instantiate(rctx, rt, compiled, wazero.NewModuleConfig().WithName("")) }()
			stopGC := make(chan struct{})
			if tc.gc {
				go func() {
					for {
						select {
						case <-stopGC:
							return
						default:
							goruntime.GC()
						}
					}
				}()
			}
			defer close(stopGC)
			time.Sleep(50 * time.Millisecond) // spinning
			cancel()
			select {
			case err := <-done:
				var exit *sys.ExitError
				if !errors.As(err, &exit) {
					t.Fatalf("the cancelled guest ended with %v, want a sys.ExitError", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a spinning guest did not end 10 s after its context was cancelled")
			}
		})
	}
}
