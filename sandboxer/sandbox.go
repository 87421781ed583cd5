package sandboxer

import (
	"context"
	"sync"
	"time"
)

// taskCount is the number of tasks h serves; 0 without a host (a sandbox
// not started, or stopped for good).
func taskCount(ctx context.Context, h Host) (int, error) {
	if h == nil {
		return 0, nil
	}
	return h.Tasks(ctx)
}

// sandbox is one pod: its persisted state and the host of its tasks.
type sandbox struct {
	mu      sync.Mutex
	state   State
	host    Host          // nil until started, and once shut down
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
