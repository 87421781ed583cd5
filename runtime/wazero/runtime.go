// Package wazero runs each Wasm module as a goroutine inside the daemon,
// with wazero: the densest and fastest mode. A daemon restart ends these
// modules.
package wazero

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// MaxModuleBytes bounds the size of a module file read from a rootfs.
const MaxModuleBytes = 256 << 20

// wasmMagic is the first four bytes of every Wasm binary; a component's
// next four (version and layer) are componentVersion.
var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d}

const componentVersion = "\x0d\x00\x01\x00"

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

var _ task.Runtime = (*Runtime)(nil)

// Option configures a Runtime.
type Option func(*options)

type options struct {
	cache        wazero.CompilationCache
	afterCompile func()
	keepUnused   *int
}

// WithUnusedModules bounds how many compiled modules no task uses are kept
// in memory (default 64); 0 frees each as soon as it is unused (a pod
// server, whose workers read compiled code from the disk cache).
func WithUnusedModules(n int) Option {
	return func(o *options) { o.keepUnused = &n }
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
	rt, err := NewEngine(ctx, o.cache)
	if err != nil {
		return nil, err
	}
	keep := defaultCacheEntries
	if o.keepUnused != nil {
		keep = max(*o.keepUnused, 0)
	}
	mc := newModuleCache(rt, keep)
	mc.afterCompile = o.afterCompile
	return &Runtime{rt: rt, cache: mc}, nil
}

// NewEngine returns a wazero runtime with WASI, configured as every
// runtime of the project must be: compiled code is cached by a key that
// includes this configuration, so the forked runtime's workers find in the
// shared cache what the daemon compiled.
func NewEngine(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true). // kill works on a guest spinning in a loop
		WithCompilationCache(cache)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI: %w", err)
	}
	return rt, nil
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
func (r *Runtime) Prepare(ctx context.Context, spec task.ProcessSpec) (_ task.Process, retErr error) {
	cfg := spec.Config
	root, mounts, err := OpenFS(spec.Rootfs, cfg, func(_ int, p wasispec.Preopen) string { return p.HostPath })
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			closeAll(root, mounts)
		}
	}()
	f, err := findModule(ctx, root, spec)
	if err != nil {
		return nil, err
	}
	digest, name := f.digest, f.name
	compiled, err := r.acquire(ctx, digest, name, f.load, cfg.MemoryLimitPages())
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			r.cache.release(digest)
		}
	}()
	g, err := groupFor(spec)
	if err != nil {
		return nil, err
	}
	ios, err := stdio.Open(ctx, spec.Stdin, spec.Stdout, spec.Stderr)
	if err != nil {
		return nil, err
	}
	log.G(ctx).WithFields(log.Fields{"id": spec.ID, "module": name, "digest": digest}).Debug("module prepared")
	return newProcess(r, spec.ID, digest, compiled, moduleConfig(cfg, root, mounts, ios), root, mounts, ios, g), nil
}

// acquire returns the compiled module for digest, compiling it on a miss,
// checked against the memory limit. The caller releases it.
func (r *Runtime) acquire(ctx context.Context, digest, name string, load func() ([]byte, error), limitPages uint32) (wazero.CompiledModule, error) {
	compiled, err := r.cache.get(ctx, digest, load)
	if err != nil {
		return nil, fmt.Errorf("module %s (%s): %w", name, digest, err)
	}
	if err := checkMemory(compiled, limitPages); err != nil {
		r.cache.release(digest)
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	return compiled, nil
}

// OpenFS opens what a module sees: rootfs as "/", and each of cfg's
// preopens from dir (its host path in the daemon, its path under /job in a
// forked worker); all confined, read-only where cfg says.
func OpenFS(rootfs string, cfg wasispec.Config, dir func(i int, p wasispec.Preopen) string) (*confinedfs.FS, []*confinedfs.FS, error) {
	root, err := openConfined(rootfs, cfg.RootReadOnly)
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs %q: %w", rootfs, err)
	}
	var mounts []*confinedfs.FS
	for i, p := range cfg.Preopens {
		m, err := openConfined(dir(i, p), p.ReadOnly)
		if err != nil {
			closeAll(root, mounts)
			return nil, nil, fmt.Errorf("mount %s: %w", p.GuestPath, err)
		}
		mounts = append(mounts, m)
	}
	return root, mounts, nil
}

func openConfined(path string, readOnly bool) (*confinedfs.FS, error) {
	if readOnly {
		return confinedfs.New(path, confinedfs.ReadOnly())
	}
	return confinedfs.New(path)
}

func closeAll(root *confinedfs.FS, mounts []*confinedfs.FS) {
	root.Close()
	for _, m := range mounts {
		m.Close()
	}
}

// Module is a resolved module.
type Module struct {
	Digest string // the compile-cache key
	Name   string // for messages: its rootfs path, or its layer
	// RootfsPath is its path in the rootfs, empty when it came from an
	// image layer.
	RootfsPath string
	Bin        []byte
}

// ResolveModule resolves args[0] like Prepare does (rootfs, then image
// layers) and reads the module.
func ResolveModule(ctx context.Context, root *confinedfs.FS, spec task.ProcessSpec) (Module, error) {
	f, err := findModule(ctx, root, spec)
	if err != nil {
		return Module{}, err
	}
	bin, err := f.load()
	if err != nil {
		return Module{}, err
	}
	return Module{Digest: f.digest, Name: f.name, RootfsPath: f.rootfsPath, Bin: bin}, nil
}

func digestOf(bin []byte) string {
	sum := sha256.Sum256(bin)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Compile makes sure the module is compiled (into the compilation cache
// this runtime shares, e.g. on disk) and checks it against the memory
// limit, with the same errors Prepare gives.
func (r *Runtime) Compile(ctx context.Context, digest, name string, bin []byte, limitPages uint32) error {
	if _, err := r.acquire(ctx, digest, name, func() ([]byte, error) { return bin, nil }, limitPages); err != nil {
		return err
	}
	r.cache.release(digest)
	return nil
}

// found is where findModule found a module.
type found struct {
	digest     string // keys the compile cache
	name       string // for messages
	rootfsPath string // its path in the rootfs; empty for an image layer
	load       func() ([]byte, error)
}

// findModule resolves args[0]: a file in the rootfs (absolute, PATH, cwd),
// else a module layer of the container's image. Its loader reads the bytes
// (for an image layer, only when called: a compile-cache hit needs none).
func findModule(ctx context.Context, root *confinedfs.FS, spec task.ProcessSpec) (found, error) {
	cfg := spec.Config
	guestPath, lookErr := root.LookPath(cfg.Args[0], cfg.Cwd, cfg.Path)
	if lookErr == nil {
		bin, err := readModule(root, guestPath)
		if err != nil {
			return found{}, err
		}
		return found{digest: digestOf(bin), name: guestPath, rootfsPath: guestPath,
			load: func() ([]byte, error) { return bin, nil }}, nil
	}
	if spec.Image != nil {
		cid := spec.ContainerID
		if cid == "" {
			cid = spec.ID
		}
		m, err := spec.Image.Module(ctx, cid, cfg.Args[0])
		if err == nil {
			return found{digest: m.Digest, name: m.Name, load: func() ([]byte, error) {
				bin, err := m.Read(ctx)
				if err != nil {
					return nil, err
				}
				return bin, checkBinary(m.Name, bin)
			}}, nil
		}
		if !errdefs.IsNotFound(err) {
			return found{}, fmt.Errorf("module %s from the image: %w", cfg.Args[0], err)
		}
	}
	return found{}, fmt.Errorf("module: %w", errdefs.ErrNotFound.WithMessage(lookErr.Error()))
}

func readModule(root *confinedfs.FS, guestPath string) ([]byte, error) {
	f, err := root.Open(guestPath)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", guestPath, errdefs.ErrNotFound.WithMessage(err.Error()))
	}
	defer f.Close()
	bin, err := io.ReadAll(io.LimitReader(f, MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", guestPath, err)
	}
	if len(bin) > MaxModuleBytes {
		return nil, fmt.Errorf("module %s is larger than %d bytes: %w", guestPath, MaxModuleBytes, errdefs.ErrInvalidArgument)
	}
	return bin, checkBinary(guestPath, bin)
}

// checkBinary refuses what is not a core Wasm module with a clear error.
func checkBinary(name string, bin []byte) error {
	if len(bin) < 8 || string(bin[:4]) != string(wasmMagic) {
		return fmt.Errorf("%s is not a WebAssembly module (no \\0asm magic): %w", name, errdefs.ErrInvalidArgument)
	}
	if string(bin[4:8]) == componentVersion {
		return fmt.Errorf("%s is a WebAssembly component: components (WASI preview 2) are not supported, only core modules (WASI preview 1): %w", name, errdefs.ErrNotImplemented)
	}
	return checkLocals(name, bin)
}

// checkMemory refuses a module whose initial memory is above the limit:
// it could never start.
func checkMemory(m wazero.CompiledModule, limitPages uint32) error {
	var mems []api.MemoryDefinition
	for _, d := range m.ExportedMemories() {
		mems = append(mems, d)
	}
	mems = append(mems, m.ImportedMemories()...)
	for _, d := range mems {
		if d.Min() > limitPages {
			return fmt.Errorf("needs %d Wasm pages of memory at start, above its limit of %d pages: %w", d.Min(), limitPages, errdefs.ErrResourceExhausted)
		}
	}
	return nil
}
