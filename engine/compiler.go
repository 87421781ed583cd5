package engine

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
)

// Compiler fills a compilation cache (on disk) for a forked pod's workers:
// it compiles each module with the workers' engine configuration, checks
// it as the goroutine runtime's Prepare does (same errors), and keeps no
// machine code in memory: the workers read it from the cache.
type Compiler struct {
	rt       wazero.Runtime
	compiles atomic.Uint64
}

// NewCompiler returns a Compiler writing to cache. Close it.
func NewCompiler(ctx context.Context, cache wazero.CompilationCache) (*Compiler, error) {
	rt, err := New(ctx, cache)
	if err != nil {
		return nil, err
	}
	return &Compiler{rt: rt}, nil
}

// Compile makes sure bin's machine code is in the cache and that its
// memory fits limitPages.
func (c *Compiler) Compile(ctx context.Context, digest, name string, bin []byte, limitPages uint32) error {
	c.compiles.Add(1)
	m, err := Compile(ctx, c.rt, bin)
	if err != nil {
		return fmt.Errorf("module %s (%s): %w", name, digest, err)
	}
	defer m.Close(ctx)
	if err := CheckMemory(m, limitPages); err != nil {
		return fmt.Errorf("module %s: %w", name, err)
	}
	return nil
}

// Compiles is how many modules it was asked to compile: each a miss of
// what its caller remembers (forked.Remembered counts the hits).
func (c *Compiler) Compiles() uint64 { return c.compiles.Load() }

// Close frees the engine.
func (c *Compiler) Close(ctx context.Context) error { return c.rt.Close(ctx) }
