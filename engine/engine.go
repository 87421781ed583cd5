// Package engine is what both hosts of a module need from wazero: the
// engine configuration, the module's filesystem view, finding, reading and
// checking a module, compiling it, its memory limit, running it and
// classifying how it ended. runtime/goroutine runs modules with it inside
// the daemon; the forked runtime's worker (package worker) runs one with it
// in a confined process. It links no containerd package: the worker starts
// on every pool refill and links only what it runs.
package engine

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine/wasisock"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// Option configures an engine.
type Option func(*options)

type options struct{ interruptible bool }

// Interruptible makes a running guest end when its context is done, even
// in a loop that calls no host function: the compiled code checks at loop
// heads and function entries. A host that shares its process with the
// guest (the goroutine runtime) needs it; a worker process, which a
// signal ends, does not, and runs the guest without the checks. The
// compile cache keys on this setting: a forked pod's compiler
// (NewCompiler) and its workers use the same.
func Interruptible() Option { return func(o *options) { o.interruptible = true } }

// New returns a wazero runtime with WASI, configured as every host of the
// project must be, compiling into cache.
func New(ctx context.Context, cache wazero.CompilationCache, opts ...Option) (wazero.Runtime, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(o.interruptible).
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	// wazero's WASI, with sock_accept and poll_oneoff that serve the
	// listeners the runtime opened (engine/wasisock).
	wasi := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasisock.Export(wasi)
	if _, err := wasi.Instantiate(ctx); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	return rt, nil
}

// Compile compiles bin on rt (a hit in rt's compilation cache when it was
// compiled before), refusing what wazero cannot compile as invalid.
func Compile(ctx context.Context, rt wazero.Runtime, bin []byte) (wazero.CompiledModule, error) {
	m, err := rt.CompileModule(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("invalid WebAssembly: %v: %w", err, errkind.InvalidArgument)
	}
	return m, nil
}
