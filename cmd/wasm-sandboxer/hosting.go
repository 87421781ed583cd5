package main

import (
	"context"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// goroutineHosting runs goroutine-mode sandboxes in the daemon: per
// sandbox, a task service on the daemon's runtime, served on the
// sandbox's socket.
type goroutineHosting struct {
	runtime   runtime.Runtime
	publisher task.Publisher
	images    imagemodule.Source // optional
	endpoint  []endpoint.Option
}

var _ sandboxer.Hosting = goroutineHosting{}

func (g goroutineHosting) Start(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	opts := []task.ServiceOption{task.WithNetNS(spec.NetNS)} // listeners in the pod's network
	if g.images != nil {
		opts = append(opts, task.WithImageModules(g.images))
	}
	if spec.ShutdownWhenEmpty != nil {
		opts = append(opts, task.WithShutdownWhenEmpty(spec.ShutdownWhenEmpty))
	}
	tasks := task.NewService(spec.ID, g.runtime, g.publisher, opts...)
	srv, err := endpoint.Serve(ctx, spec.ID, spec.Socket, tasks, g.endpoint...)
	if err != nil {
		return nil, err
	}
	return &localHost{tasks: tasks, srv: srv}, nil
}

// Attach starts afresh: the modules of a goroutine-mode sandbox ended with
// the daemon that ran them.
func (g goroutineHosting) Attach(ctx context.Context, spec sandboxer.HostSpec) (sandboxer.Host, error) {
	log.G(ctx).WithField("sandbox", spec.ID).Warn("goroutine-mode sandbox: modules that were running ended with the previous daemon; containerd reports them exited (137)")
	return g.Start(ctx, spec)
}

// Clean has nothing to do: a goroutine-mode host leaves no files.
func (goroutineHosting) Clean(context.Context, string) error { return nil }

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
