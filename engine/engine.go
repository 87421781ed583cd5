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
)

// New returns a wazero runtime with WASI, configured as every host of the
// project must be: compiled code is cached by a key that includes this
// configuration, so the forked runtime's workers find in the shared cache
// what the daemon compiled.
func New(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true). // kill works on a guest spinning in a loop
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
