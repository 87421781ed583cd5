// Package inprocess hosts sandboxes in the calling process: per sandbox, a
// task service on a runtime of this process, served on the sandbox's
// socket. The daemon hosts goroutine-mode pods this way; the benchmarks
// host their ceiling (a runtime that runs nothing) the same way.
package inprocess

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// Hosting runs sandboxes in this process: per sandbox, a task service on
// Runtime, served on the sandbox's socket.
type Hosting struct {
	Runtime   runtime.Runtime
	Publisher task.Publisher
	Images    imagemodule.Source // optional
	Endpoint  []endpoint.Option
}

var _ sandboxer.Hosting = Hosting{}

// Start serves a new sandbox's tasks; their listeners are opened in the
// pod's network namespace.
func (g Hosting) Start(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	opts := []task.ServiceOption{task.WithNetNS(spec.NetNS)}
	if g.Images != nil {
		opts = append(opts, task.WithImageModules(g.Images))
	}
	if spec.ShutdownWhenEmpty != nil {
		opts = append(opts, task.WithShutdownWhenEmpty(spec.ShutdownWhenEmpty))
	}
	tasks := task.NewService(spec.ID, g.Runtime, g.Publisher, opts...)
	srv, err := endpoint.Serve(ctx, spec.ID, spec.Socket, tasks, g.Endpoint...)
	if err != nil {
		return nil, err
	}
	return &localHost{tasks: tasks, srv: srv}, nil
}

// Attach starts afresh: the modules of a sandbox hosted in a process ended
// with it.
func (g Hosting) Attach(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	log.G(ctx).WithField("sandbox", spec.ID).Warn("goroutine-mode sandbox: modules that were running ended with the previous daemon; containerd reports them exited (137)")
	return g.Start(ctx, spec)
}

// Reattach has nothing to give back: an in-process host ended with the
// daemon.
func (Hosting) Reattach(_ context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	return nil, fmt.Errorf("sandbox %q: an in-process host does not outlive its daemon: %w", spec.ID, errdefs.ErrNotFound)
}

// Clean has nothing to do: an in-process host leaves no files.
func (Hosting) Clean(context.Context, string) error { return nil }

// localHost serves a sandbox from this process.
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
