package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
)

// Floor measures the floor every mode stands on: bare wazero, in process,
// instantiating and running the precompiled module n times (after one
// warm-up), stdout discarded. The engine is configured as the daemon's
// (engine.New), so the compiled code is the same.
func Floor(ctx context.Context, module []byte, n int, settle func()) ([]time.Duration, error) {
	rt, err := engine.New(ctx, wazero.NewCompilationCache(), engine.Interruptible())
	if err != nil {
		return nil, err
	}
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, module)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStdout(io.Discard).WithStderr(io.Discard).WithArgs("hello.wasm")
	run := func() error {
		mod, err := rt.InstantiateModule(ctx, cm, cfg)
		if err != nil {
			return err
		}
		return mod.Close(ctx)
	}
	return Repeat(n, settle, func(int) error { return run() })
}

// Repeat times run(i) for i in 0..n-1 after one untimed warm-up run (-1),
// calling settle (when set) before each with the clock stopped.
func Repeat(n int, settle func(), run func(i int) error) ([]time.Duration, error) {
	if err := run(-1); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		if settle != nil {
			settle()
		}
		start := time.Now()
		if err := run(i); err != nil {
			return out, fmt.Errorf("run %d: %w", i, err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
