package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine/wasisock"
)

// WithListeners returns ctx carrying the listening sockets the module run
// with it gets, as preopened descriptors after its preopened directories,
// in order (engine/wasisock). The files are closed when the module ends.
func WithListeners(ctx context.Context, files []*os.File) context.Context {
	return wasisock.WithListeners(ctx, files)
}

// instantiateServing is Instantiate for a module given listeners: it
// instantiates without running _start, puts the listeners into the
// module's descriptor table, then runs _start as wazero would.
func instantiateServing(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig, files []*os.File) error {
	set, err := wasisock.NewSet(ctx, files)
	if err != nil {
		return err
	}
	defer set.Close()
	ctx = set.Context(ctx)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg.WithStartFunctions())
	if err != nil {
		return err
	}
	// Closing the module closes its descriptors: the listeners and every
	// accepted connection.
	defer mod.Close(context.Background())
	if _, err := set.Attach(mod); err != nil {
		return err
	}
	start := mod.ExportedFunction("_start")
	if start == nil {
		return nil
	}
	if _, err := start.Call(ctx); err != nil {
		var exitErr *sys.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() == 0 {
			return nil
		}
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("module function[_start] failed: %w", err)
		}
		return err
	}
	return nil
}
