package sandboxer

import (
	"context"
	"time"

	"github.com/containerd/containerd/api/types"
)

// Hosting runs the sandboxes of one mode: it starts what serves a
// sandbox's tasks (its Host), gives a sandbox its host back after a daemon
// restart, and cleans up after hosts that are gone. The daemon composes
// one per mode (cmd/wasm-sandboxer): the controller picks the hosting by
// the sandbox's mode and never asks which mode it is.
type Hosting interface {
	// Start starts the host of a sandbox, serving its task API (and the
	// endpoint's control API) on spec.Socket.
	Start(ctx context.Context, spec HostSpec) (Host, error)
	// Attach gives a ready sandbox its host back after a daemon restart,
	// on the same socket: a host that outlived the daemon is attached
	// again, one that could not is started afresh (and says so).
	Attach(ctx context.Context, spec HostSpec) (Host, error)
	// Reattach gives a stopped sandbox back a host that outlived the
	// daemon (a pod server that still runs), so that Shutdown ends it. It
	// never starts one: with none, it fails (errdefs.ErrNotFound).
	Reattach(ctx context.Context, spec HostSpec) (Host, error)
	// Clean removes what a host that is gone left in dir (a HostSpec.Dir
	// no sandbox uses any more).
	Clean(ctx context.Context, dir string) error
}

// HostSpec is what a sandbox's host is started or attached with.
type HostSpec struct {
	// ID is the sandbox's.
	ID string
	// Socket is where the host serves the sandbox's task API.
	Socket string
	// Dir is the host's own working dir, under the daemon's state dir;
	// Hosting.Clean removes it once the host is gone.
	Dir string
	// NetNS is the pod's network namespace ("": none of the pod's).
	NetNS string
	// CgroupParent is the pod's cgroup, CRI's cgroupfs parent of its
	// containers' cgroups, when known: idle forked workers wait next to
	// where those will be (runtime/forked, spare cgroups).
	CgroupParent string
	// ShutdownWhenEmpty, when not nil, is called once the sandbox's last
	// task is gone: the sandbox was made for one task (the ctr path,
	// sandboxapi.OwnerTask), which only goroutine-mode sandboxes are.
	ShutdownWhenEmpty func()
}

// Host runs a sandbox's tasks and serves their endpoint: the daemon itself
// (goroutine mode) or a pod server process (forked mode).
type Host interface {
	// KillAll kills every task and waits for their exits, at most timeout
	// (0: no bound but ctx).
	KillAll(ctx context.Context, timeout time.Duration) error
	// Shutdown releases every task and stops serving; for a host that is
	// gone, it removes what the host left.
	Shutdown(ctx context.Context) error
	// Detach stops the daemon's part: the daemon is stopping.
	Detach(ctx context.Context)
	// Tasks is the number of tasks.
	Tasks(ctx context.Context) (int, error)
	// Metrics is the pod's total resource use (task.Service.Metrics).
	Metrics(ctx context.Context) (*types.Metric, error)
	// Gone is closed when the host ended by itself, its tasks with it
	// (nil: it cannot).
	Gone() <-chan struct{}
}
