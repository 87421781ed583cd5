package engine

import (
	"context"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// Standalone is one module compiled and configured to run in the calling
// process: the forked runtime's worker, where the module is the whole
// process. Create it after the process is confined: compiling parses the
// guest's bytes.
type Standalone struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	cfg      wazero.ModuleConfig
	mem      *Allocator
}

// NewStandalone compiles bin on rt, an engine from New (a hit in its
// cache when the daemon compiled the module), for cfg, with root as "/"
// and mounts at cfg.Preopens' guest paths. The Standalone owns rt; on an
// error rt is closed.
func NewStandalone(ctx context.Context, rt wazero.Runtime, bin []byte, cfg wasispec.Config,
	root *confinedfs.FS, mounts []*confinedfs.FS, ios *stdio.Set) (*Standalone, error) {
	if err := checkLocals("module", bin); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	if err := CheckMemory(compiled, cfg.MemoryLimitPages()); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &Standalone{rt: rt, compiled: compiled, cfg: ModuleConfig(cfg, root, mounts, ios),
		mem: NewAllocator(NewBudget(cfg.MemoryLimit))}, nil
}

// Run runs the module to completion and returns its exit.
func (s *Standalone) Run(ctx context.Context) Exit {
	err := Instantiate(WithAllocator(ctx, s.mem), s.rt, s.compiled, s.cfg)
	return Classify(err, s.mem)
}

// SetMemoryLimit changes the cap on the module's linear memory; it applies
// to the module's next memory.grow (memory is never taken back).
func (s *Standalone) SetMemoryLimit(limit uint64) { s.mem.b.SetLimit(limit) }
