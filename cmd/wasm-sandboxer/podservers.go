package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/podserver"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/forked"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// forkedHosting runs forked sandboxes, each in a pod server: it starts
// them by re-executing this binary in its pod-server role with the
// daemon's settings, and attaches again to those that outlived a daemon.
type forkedHosting struct {
	spawner podserver.Spawner
	// config holds the daemon's settings; a start adds the sandbox's.
	config  podserver.Config
	remotes *metrics.Remotes
}

var _ sandboxer.Hosting = forkedHosting{}

func newForkedHosting(o options, workerBinary string, remotes *metrics.Remotes) forkedHosting {
	return forkedHosting{
		remotes: remotes,
		spawner: podserver.Spawner{
			// The running binary, even when a newer one replaced it on disk.
			Binary: "/proc/self/exe",
			Name:   os.Args[0],
			Args:   []string{podserver.Role},
			Stderr: os.Stderr,
		},
		config: podserver.Config{
			ContainerdAddress: o.containerdAddress,
			CompileCache:      filepath.Join(o.stateDir, "compile-cache"),
			CompiledMemo:      compiledMemoDir(o.stateDir),
			WorkerBinary:      workerBinary,
			WorkerPoolSize:    o.workerPoolSize,
			WorkerPoolIdle:    o.workerPoolIdle,
			LogLevel:          o.logLevel,
			LogFormat:         o.logFormat,
		},
	}
}

// configFor is the pod server config of the sandbox of spec.
func (f forkedHosting) configFor(spec sandboxer.HostSpec) podserver.Config {
	cfg := f.config
	cfg.Sandbox, cfg.Socket, cfg.Dir = spec.ID, spec.Socket, spec.Dir
	cfg.NetNS, cfg.CgroupParent = spec.NetNS, spec.CgroupParent
	return cfg
}

// Start spawns the sandbox's pod server. spec.ShutdownWhenEmpty is not
// used: only the ctr path makes one-task sandboxes, and in goroutine mode.
func (f forkedHosting) Start(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	cl, err := f.spawner.Spawn(ctx, f.configFor(spec))
	if err != nil {
		return nil, err
	}
	return f.host(spec, cl), nil
}

// Attach connects to the pod server that served the sandbox before the
// daemon restarted; its tasks ran on.
func (f forkedHosting) Attach(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	cl, err := podserver.Dial(ctx, spec.Socket)
	if err != nil {
		return nil, err
	}
	log.G(ctx).WithField("sandbox", spec.ID).Info("pod server re-attached")
	return f.host(spec, cl), nil
}

// Reattach attaches again to a stopped sandbox's pod server, which runs
// until the sandbox is shut down.
func (f forkedHosting) Reattach(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	return f.Attach(ctx, spec)
}

// Clean removes what a pod server that is gone left in dir: its forked
// runtime's state (mounts, job dirs).
func (forkedHosting) Clean(_ context.Context, dir string) error { return forked.RemoveState(dir) }

// host is the sandbox's host on pod server cl, whose figures are added to
// the daemon's metrics for as long as the daemon is attached to it.
func (f forkedHosting) host(spec sandboxer.HostSpec, cl *podserver.Client) *podHost {
	f.remotes.Add(cl)
	go func() {
		<-cl.Gone() // died (its figures are lost with it); nil once detached
		f.remotes.Remove(cl)
	}()
	return &podHost{ps: trackedPodServer{Client: cl, remotes: f.remotes}, dir: spec.Dir, clean: f.Clean}
}

// podServer is the daemon's handle on a pod server (*podserver.Client).
type podServer interface {
	KillAll(ctx context.Context, timeout time.Duration) error
	Shutdown(ctx context.Context) error
	Detach()
	Info(ctx context.Context) (podserver.Info, error)
	Stats(ctx context.Context) (*types.Metric, error)
	Gone() <-chan struct{}
}

// trackedPodServer keeps the counters of a pod server it shuts down.
type trackedPodServer struct {
	*podserver.Client
	remotes *metrics.Remotes
}

func (t trackedPodServer) Shutdown(ctx context.Context) error {
	t.remotes.Retire(ctx, t.Client)
	return t.Client.Shutdown(ctx)
}

func (t trackedPodServer) Detach() {
	t.remotes.Remove(t.Client)
	t.Client.Detach()
}

// podHost is a forked sandbox's pod server.
type podHost struct {
	ps  podServer
	dir string // the pod server's working dir
	// clean removes what the pod server leaves in dir when it dies (a
	// live one removes its working files itself as it exits).
	clean func(ctx context.Context, dir string) error
}

var _ sandboxer.Host = (*podHost)(nil)

func (h *podHost) Detach(context.Context) { h.ps.Detach() }

func (h *podHost) Metrics(ctx context.Context) (*types.Metric, error) { return h.ps.Stats(ctx) }
func (h *podHost) Gone() <-chan struct{}                              { return h.ps.Gone() }

func (h *podHost) KillAll(ctx context.Context, t time.Duration) error {
	if h.gone() {
		return nil // its tasks ended with it
	}
	return h.ps.KillAll(ctx, t)
}

func (h *podHost) gone() bool {
	select {
	case <-h.ps.Gone():
		return true
	default:
		return false
	}
}

// Shutdown ends the pod server and its tasks, or, when it is gone
// already, removes what it left.
func (h *podHost) Shutdown(ctx context.Context) error {
	if h.gone() {
		return h.clean(ctx, h.dir)
	}
	if err := h.ps.Shutdown(ctx); err != nil && !h.gone() {
		return err
	}
	// The pod server cleans up, then exits: its dir is gone once it is.
	select {
	case <-h.ps.Gone():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(podServerExitTimeout):
		log.G(ctx).Warn("pod server shut down its tasks but did not exit")
	}
	return nil
}

// podServerExitTimeout bounds the wait for a pod server's exit after its
// Shutdown (it removes its working files first).
const podServerExitTimeout = 10 * time.Second

func (h *podHost) Tasks(ctx context.Context) (int, error) {
	info, err := h.ps.Info(ctx)
	return info.Tasks, err
}

// podServerContainerd is containerdClients for a pod server
// (podserver.Containerd).
func podServerContainerd(address string) (task.Publisher, imagemodule.Source, func(), error) {
	pub, images, closeAll, err := containerdClients(address)
	if err != nil {
		return nil, nil, nil, err
	}
	return pub, images, closeAll, nil
}
