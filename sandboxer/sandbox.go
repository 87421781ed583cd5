package sandboxer

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/podserver"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// host runs a sandbox's tasks and serves their endpoint: the daemon itself
// (goroutine mode) or a pod server process (forked mode).
type host interface {
	// KillAll kills every task and waits for their exits, at most timeout
	// (0: no bound but ctx).
	KillAll(ctx context.Context, timeout time.Duration) error
	// Shutdown releases every task and stops serving.
	Shutdown(ctx context.Context) error
	// Detach stops the daemon's part: the daemon is stopping.
	Detach(ctx context.Context)
	// Tasks is the number of tasks.
	Tasks(ctx context.Context) (int, error)
	// Metrics is the pod's total resource use (task.Service.Metrics).
	Metrics(ctx context.Context) (*types.Metric, error)
	// Gone is closed when the host ended by itself (nil: it cannot).
	Gone() <-chan struct{}
}

// PodServer is the daemon's handle on a forked sandbox's pod server
// (*podserver.Client).
type PodServer interface {
	KillAll(ctx context.Context, timeout time.Duration) error
	Shutdown(ctx context.Context) error
	Detach()
	Info(ctx context.Context) (podserver.Info, error)
	Stats(ctx context.Context) (*types.Metric, error)
	Gone() <-chan struct{}
}

// PodSpec is what a pod server is started with.
type PodSpec struct {
	// ID is the sandbox's.
	ID string
	// Socket is where it serves the pod's task API and its control API.
	Socket string
	// Dir holds its working files.
	Dir string
	// NetNS is the network namespace its workers join ("" = none of the
	// pod's).
	NetNS string
	// CgroupParent is the pod's cgroup, CRI's cgroupfs parent of its
	// containers' cgroups, when known: idle workers wait next to where
	// those will be (runtime/forked, spare cgroups).
	CgroupParent string
}

// PodServers starts, re-attaches and cleans up the pod servers of forked
// sandboxes.
type PodServers interface {
	// Spawn starts the pod server of a sandbox.
	Spawn(ctx context.Context, spec PodSpec) (PodServer, error)
	// Attach connects to the pod server serving socket (after a restart).
	Attach(ctx context.Context, socket string) (PodServer, error)
	// Clean removes what a pod server that is gone left in dir.
	Clean(ctx context.Context, dir string) error
}

// taskCount is the number of tasks h serves; 0 without a host (a sandbox
// not started, or stopped for good).
func taskCount(ctx context.Context, h host) (int, error) {
	if h == nil {
		return 0, nil
	}
	return h.Tasks(ctx)
}

// localHost serves a goroutine-mode sandbox from the daemon.
type localHost struct {
	tasks *task.Service
	srv   *endpoint.Server
}

func (h *localHost) KillAll(ctx context.Context, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h.tasks.KillAll(ctx)
	return nil
}

func (h *localHost) Shutdown(ctx context.Context) error {
	h.tasks.Close(ctx)
	h.srv.Close(ctx)
	return nil
}

func (h *localHost) Detach(ctx context.Context)         { h.srv.Close(ctx) }
func (h *localHost) Tasks(context.Context) (int, error) { return h.tasks.Len(), nil }
func (h *localHost) Gone() <-chan struct{}              { return nil }

func (h *localHost) Metrics(ctx context.Context) (*types.Metric, error) {
	return h.tasks.Metrics(ctx)
}

// podHost is a forked sandbox's pod server.
type podHost struct {
	ps PodServer
	// clean removes what the pod server leaves when it dies (a live one
	// removes its working files itself as it exits).
	clean func(ctx context.Context) error
}

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
		return h.clean(ctx)
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

// sandbox is one pod: its persisted state and the host of its tasks.
type sandbox struct {
	mu      sync.Mutex
	state   State
	host    host          // nil until started, and once shut down
	stopped chan struct{} // closed once the sandbox is stopped
	// removing is set by Shutdown when it takes the host: a Start that
	// raced it must not start a new host for a sandbox on its way out.
	removing bool
}

func newSandbox(st State) *sandbox {
	sb := &sandbox{state: st, stopped: make(chan struct{})}
	if st.Phase == PhaseStopped {
		close(sb.stopped)
	}
	return sb
}

func (sb *sandbox) snapshot() State {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.state
}

func (sb *sandbox) markStopped(at time.Time) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.markStoppedLocked(at)
}

func (sb *sandbox) markStoppedLocked(at time.Time) {
	if sb.state.Phase == PhaseStopped {
		return
	}
	sb.state.Phase = PhaseStopped
	sb.state.ExitedAt = at
	close(sb.stopped)
}
