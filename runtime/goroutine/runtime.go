// Package goroutine runs each Wasm module as a goroutine inside the
// daemon: the densest and fastest mode. A daemon restart ends these
// modules. What it needs of wazero is in package engine, which the forked
// runtime's worker shares.
package goroutine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/log"
	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/fifos"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Runtime runs modules as goroutines. One wazero runtime (and so one
// compiled-code cache) serves every sandbox of the daemon.
type Runtime struct {
	rt    wazero.Runtime
	cache *moduleCache
	// closing is set once Close starts: the modules it ends report
	// ExitDaemonStopped, never a normal exit.
	closing atomic.Bool
	// running counts the modules still running, so Close can wait for them.
	running sync.WaitGroup
}

// ExitDaemonStopped is the exit status of a module ended because the daemon
// stopped: 128+SIGKILL, as containerd-shim-wasm-v1 reports for them too.
const ExitDaemonStopped = 137

var _ runtime.Runtime = (*Runtime)(nil)

// Option configures a Runtime.
type Option func(*options)

type options struct {
	cache        wazero.CompilationCache
	afterCompile func()
}

// WithAfterCompile runs fn (in its own goroutine) after each module the
// runtime had to compile, e.g. to record and bound an on-disk cache.
func WithAfterCompile(fn func()) Option {
	return func(o *options) { o.afterCompile = fn }
}

// WithCompilationCache shares compiled machine code with other runtimes
// that use the same cache (e.g. one kept on disk).
func WithCompilationCache(c wazero.CompilationCache) Option {
	return func(o *options) { o.cache = c }
}

// New returns a Runtime. Close it to free compiled code.
func New(ctx context.Context, opts ...Option) (*Runtime, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.cache == nil {
		o.cache = wazero.NewCompilationCache()
	}
	rt, err := engine.New(ctx, o.cache, engine.Interruptible())
	if err != nil {
		return nil, err
	}
	mc := newModuleCache(rt, defaultCacheEntries)
	mc.afterCompile = o.afterCompile
	return &Runtime{rt: rt, cache: mc}, nil
}

// Close ends every running module (exit ExitDaemonStopped), waits (at
// most a few seconds) until they have ended, and frees every compiled module
// and the wazero runtime. Waiting matters at a daemon stop: containerd's
// pending task Waits are answered before the task endpoints close.
func (r *Runtime) Close(ctx context.Context) error {
	r.closing.Store(true)
	err := r.rt.CloseWithExitCode(ctx, ExitDaemonStopped)
	done := make(chan struct{})
	go func() { r.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	return err
}

// CacheStats reports compiled-module cache hits and misses.
func (r *Runtime) CacheStats() (hits, misses uint64) { return r.cache.stats() }

// Prepare resolves args[0] in the confined rootfs, compiles it (once per
// digest) and opens the task's stdio.
func (r *Runtime) Prepare(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	return asProcess(r.prepare(ctx, spec, nil))
}

// asProcess returns p as a runtime.Process, and no typed nil on an error.
func asProcess(p *process, err error) (runtime.Process, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// prepare is Prepare for a container's own module (g nil: a group of its
// own) or an exec in group g.
func (r *Runtime) prepare(ctx context.Context, spec runtime.ProcessSpec, g *group) (_ *process, retErr error) {
	cfg := spec.Config
	root, mounts, err := engine.OpenFS(spec.Rootfs, cfg, func(_ int, p wasispec.Preopen) string { return p.HostPath })
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			engine.CloseFS(root, mounts)
		}
	}()
	cid := spec.ContainerID
	if cid == "" {
		cid = spec.ID
	}
	f, err := engine.Find(ctx, root, cfg, cid, spec.Image)
	if err != nil {
		return nil, err
	}
	digest, name := f.Digest, f.Name
	compiled, err := r.acquire(ctx, digest, name, f.Load, cfg.MemoryLimitPages())
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			r.cache.release(digest)
		}
	}()
	if g == nil {
		g = newGroup(spec)
	}
	ios, err := fifos.Open(ctx, spec.Stdin, spec.Stdout, spec.Stderr)
	if err != nil {
		return nil, err
	}
	log.G(ctx).WithFields(log.Fields{"id": spec.ID, "module": name, "digest": digest}).Debug("module prepared")
	p := newProcess(r, spec.ID, digest, compiled, engine.ModuleConfig(cfg, root, mounts, ios), root, mounts, ios, g)
	p.listeners = spec.Listeners
	return p, nil
}

// acquire returns the compiled module for digest, compiling it on a miss,
// checked against the memory limit. The caller releases it.
func (r *Runtime) acquire(ctx context.Context, digest, name string, load func() ([]byte, error), limitPages uint32) (wazero.CompiledModule, error) {
	compiled, err := r.cache.get(ctx, digest, load)
	if err != nil {
		return nil, fmt.Errorf("module %s (%s): %w", name, digest, err)
	}
	if err := engine.CheckMemory(compiled, limitPages); err != nil {
		r.cache.release(digest)
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	return compiled, nil
}
