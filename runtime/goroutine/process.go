package goroutine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

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
	mem      *engine.Allocator
	group    *group // the container's modules: budget, accounting
	// listeners are the module's preopened sockets (ProcessSpec.Listeners);
	// the module's end closes them, and Close again.
	listeners []*os.File
	cpu       cpuMeter

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	killSig atomic.Int32
	done    chan struct{}
	exit    runtime.Exit

	closeOnce sync.Once
}

func newProcess(r *Runtime, id, digest string, compiled wazero.CompiledModule, cfg wazero.ModuleConfig,
	root *confinedfs.FS, mounts []*confinedfs.FS, ios *stdio.Set, g *group) *process {
	ctx, cancel := context.WithCancel(context.Background())
	mem := engine.NewAllocator(g.budget)
	p := &process{
		rt: r, id: id, digest: digest, compiled: compiled, cfg: cfg.WithNanosleep(engine.SleepUntilDone(ctx)),
		root: root, mounts: mounts, ios: ios, mem: mem, group: g,
		ctx: engine.WithAllocator(ctx, mem), cancel: cancel,
		done: make(chan struct{}),
	}
	g.join(p)
	return p
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

// run runs the module on a thread of its own, which ends with it: that
// thread's CPU time is the module's (cpuMeter).
func (p *process) run() {
	defer p.rt.running.Done()
	p.cpu.begin()
	e := p.instantiate()
	p.cpu.end()
	p.finish(e)
}

func (p *process) instantiate() runtime.Exit {
	err := engine.Instantiate(engine.WithListeners(p.ctx, p.listeners), p.rt.rt, p.compiled, p.cfg)
	if sig := p.killSig.Load(); sig != 0 && p.ctx.Err() != nil {
		return runtime.Exit{Code: 128 + uint32(sig), Reason: fmt.Sprintf("killed by signal %d", sig)}
	}
	if p.rt.closing.Load() {
		return runtime.Exit{Code: ExitDaemonStopped, Reason: "wasm-sandboxer stopped: modules of the goroutine runtime end with the daemon"}
	}
	e := engine.Classify(err, p.mem)
	return runtime.Exit{Code: e.Code, Reason: e.Reason, OOM: e.OOM}
}

func (p *process) finish(e runtime.Exit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	e.At = time.Now()
	p.exit = e
	if e.OOM {
		p.group.oomKills.Add(1)
	}
	// Close the writers so the log readers see EOF as the module ends,
	// and free the ports at once (a kill before start never ran it).
	p.ios.Close()
	for _, f := range p.listeners {
		f.Close()
	}
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
		p.finish(runtime.Exit{Code: 128 + uint32(sig), Reason: fmt.Sprintf("killed by signal %d before start", sig)})
	}
	return nil
}

func (p *process) Done() <-chan struct{} { return p.done }

func (p *process) Exit() runtime.Exit {
	<-p.done
	return p.exit
}

// Exec runs another module in the container: it shares the container's
// memory budget and is accounted with it.
func (p *process) Exec(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	return asProcess(p.rt.prepare(ctx, spec, p.group))
}

// Pid is the daemon's: the module runs in it.
func (p *process) Pid() int { return os.Getpid() }

func (p *process) CloseStdin() error { return p.ios.CloseStdin() }

func (p *process) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.cancel()
		for _, f := range p.listeners {
			f.Close()
		}
		errs := []error{p.ios.Close(), engine.CloseFS(p.root, p.mounts)}
		p.rt.cache.release(p.digest)
		p.group.leave(p)
		err = errors.Join(errs...)
	})
	return err
}
