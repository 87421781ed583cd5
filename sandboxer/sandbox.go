package sandboxer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// sandbox is one pod: its persisted state, its tasks and their endpoint.
type sandbox struct {
	tasks *task.Service

	mu      sync.Mutex
	state   State
	server  *ttrpc.Server
	socket  string
	stopped chan struct{} // closed once the sandbox is stopped
}

func newSandbox(st State, tasks *task.Service) *sandbox {
	sb := &sandbox{state: st, tasks: tasks, stopped: make(chan struct{})}
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

func (sb *sandbox) serve(ctx context.Context, socket string) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.serveLocked(ctx, socket)
}

// serveLocked listens on socket and serves the task API of this sandbox
// only: a task id from another sandbox is unknown here.
func (sb *sandbox) serveLocked(ctx context.Context, socket string) error {
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("listen on task socket: %w", err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("chmod task socket: %w", err)
	}
	srv, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(rpcerr.TTRPCInterceptor))
	if err != nil {
		ln.Close()
		return fmt.Errorf("task server: %w", err)
	}
	taskapi.RegisterTTRPCTaskService(srv, sb.tasks)
	sb.server, sb.socket = srv, socket
	sb.state.Address = "ttrpc+unix://" + socket
	id := sb.state.ID
	go func() {
		if err := srv.Serve(context.WithoutCancel(ctx), ln); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			log.G(ctx).WithError(err).WithField("sandbox", id).Error("task server")
		}
	}()
	return nil
}

func (sb *sandbox) closeServerLocked(ctx context.Context) {
	if sb.server == nil {
		return
	}
	// Let requests under way (a Wait being answered) finish, briefly.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	sb.server.Shutdown(sctx) //nolint:errcheck // Close below ends what is left
	cancel()
	if err := sb.server.Close(); err != nil {
		log.G(ctx).WithError(err).WithField("sandbox", sb.state.ID).Warn("close task server")
	}
	os.Remove(sb.socket)
	sb.server = nil
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
