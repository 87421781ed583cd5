package wazero

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// moduleConfig is the WASI view of cfg: argv, env, cwd, the confined rootfs
// as "/", bind mounts at their destinations, real clocks and crypto/rand.
func moduleConfig(cfg wasispec.Config, root *confinedfs.FS, mounts []*confinedfs.FS, ios *stdio.Set) wazero.ModuleConfig {
	fsCfg := wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(root, "/")
	for i, p := range cfg.Preopens {
		fsCfg = fsCfg.(sysfs.FSConfig).WithSysFSMount(mounts[i], p.GuestPath)
	}
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module may run at once
		WithArgs(cfg.Args...).
		WithStdin(ios.Stdin).WithStdout(ios.Stdout).WithStderr(ios.Stderr).
		WithFSConfig(fsCfg).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader)
	hasPWD := false
	for _, e := range cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		mc = mc.WithEnv(k, v)
		hasPWD = hasPWD || k == "PWD"
	}
	// wazero has no cwd setting: WASI libcs (wasi-libc, Go's wasip1) take
	// the initial directory from PWD.
	if !hasPWD {
		mc = mc.WithEnv("PWD", cfg.Cwd)
	}
	return mc
}

// process is one module instance run by a goroutine.
type process struct {
	rt       *Runtime
	id       string
	digest   string
	compiled wazero.CompiledModule
	cfg      wazero.ModuleConfig
	root     *confinedfs.FS
	mounts   []*confinedfs.FS
	ios      *stdio.Set
	mem      *limitedAllocator

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	killSig atomic.Int32
	done    chan struct{}
	exit    task.Exit

	closeOnce sync.Once
}

func newProcess(r *Runtime, id, digest string, compiled wazero.CompiledModule, cfg wazero.ModuleConfig,
	root *confinedfs.FS, mounts []*confinedfs.FS, ios *stdio.Set, memLimit uint64) *process {
	ctx, cancel := context.WithCancel(context.Background())
	mem := &limitedAllocator{limit: memLimit}
	// A kill ends a module when it next calls a function or loops; wazero's
	// own sleep (poll_oneoff on a clock) would hold a sleeping module past
	// its kill, so the sleep also ends when the process is cancelled.
	cfg = cfg.WithNanosleep(func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	})
	return &process{
		rt: r, id: id, digest: digest, compiled: compiled, cfg: cfg,
		root: root, mounts: mounts, ios: ios, mem: mem,
		ctx: withAllocator(ctx, mem), cancel: cancel,
		done: make(chan struct{}),
	}
}

// Start runs the module in a new goroutine.
func (p *process) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("process %s already started: %w", p.id, errdefs.ErrFailedPrecondition)
	}
	select {
	case <-p.done:
		return fmt.Errorf("process %s already finished: %w", p.id, errdefs.ErrFailedPrecondition)
	default:
	}
	p.started = true
	p.rt.running.Add(1)
	go p.run()
	return nil
}

func (p *process) run() {
	defer p.rt.running.Done()
	code, reason := p.instantiate()
	p.finish(code, reason)
}

func (p *process) instantiate() (uint32, string) {
	err := instantiate(p.ctx, p.rt.rt, p.compiled, p.cfg)
	if sig := p.killSig.Load(); sig != 0 && p.ctx.Err() != nil {
		return 128 + uint32(sig), fmt.Sprintf("killed by signal %d", sig)
	}
	if p.rt.closing.Load() {
		return ExitDaemonStopped, "wasm-sandboxer stopped: modules of the goroutine runtime end with the daemon"
	}
	return classify(err, p.mem)
}

// instantiate runs _start to completion. A panic in wazero ends the
// module, never the process hosting it.
func instantiate(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime panic: %v", r)
		}
	}()
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if mod != nil {
		mod.Close(context.Background())
	}
	return err
}

// classify maps the result of running _start to an exit code, as
// docs/RATIONALE.md "Why these exit codes?" describes.
func classify(err error, mem *limitedAllocator) (uint32, string) {
	if err == nil {
		return 0, ""
	}
	var exitErr *sys.ExitError
	if errors.As(err, &exitErr) {
		if c := exitErr.ExitCode(); c != 0 && mem.limitHit() {
			return task.ExitOOM, fmt.Sprintf("memory limit of %d bytes reached (module exited %d)", mem.limit, c)
		}
		return exitErr.ExitCode(), ""
	}
	if mem.limitHit() {
		return task.ExitOOM, fmt.Sprintf("memory limit of %d bytes reached: %v", mem.limit, err)
	}
	return task.ExitTrap, fmt.Sprintf("trap: %v", err)
}

func (p *process) finish(code uint32, reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	p.exit = task.Exit{Code: code, At: time.Now(), Reason: reason}
	// Close the writers so the log readers see EOF as the module ends.
	p.ios.Close()
	close(p.done)
}

// Kill ends the module: WASI preview 1 has no signals, so every signal
// closes the module (wazero checks the context even in a tight loop).
func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	p.killSig.CompareAndSwap(0, int32(sig))
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	p.cancel()
	if !started {
		p.finish(128+uint32(sig), fmt.Sprintf("killed by signal %d before start", sig))
	}
	return nil
}

func (p *process) Done() <-chan struct{} { return p.done }

func (p *process) Exit() task.Exit {
	<-p.done
	return p.exit
}

// Pid is the daemon's: the module runs in it.
func (p *process) Pid() int { return os.Getpid() }

func (p *process) CloseStdin() error { return p.ios.CloseStdin() }

func (p *process) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.cancel()
		errs := []error{p.ios.Close(), p.root.Close()}
		for _, m := range p.mounts {
			errs = append(errs, m.Close())
		}
		p.rt.cache.release(p.digest)
		err = errors.Join(errs...)
	})
	return err
}
