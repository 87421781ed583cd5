package forked

import (
	"context"
	"sync"
	"time"

	"github.com/containerd/log"
)

// pool keeps idle, already-confined workers ready (Config.PoolSize), tops
// itself up once takes pause, and ends its workers once it has not been
// drawn from for a while (Config.PoolIdle).
type pool struct {
	size    int
	idleFor time.Duration
	// start starts a worker and waits until it has confined itself; ready
	// prepares an idle one before it joins the pool (a spare cgroup).
	start func() (*worker, error)
	ready func(ctx context.Context, w *worker)

	mu          sync.Mutex
	idle        []*worker
	closed      bool
	refills     sync.WaitGroup
	refillTimer *time.Timer // refillLater's
	refillCtx   context.Context
	drainTimer  *time.Timer   // armDrainLocked's
	refilling   int           // refill goroutines running
	changed     chan struct{} // changedLocked's
}

// take returns an idle worker, or starts one; either way the pool is
// topped up in the background. With the pool empty while it is being
// refilled (a pod's first container, as the pod server warms its pool), it
// waits for the worker already starting rather than start one more: that
// one is ready sooner, and a third start on 2 cores slowed all of them.
func (r *pool) take(ctx context.Context) (*worker, error) {
	r.mu.Lock()
	for len(r.idle) == 0 && r.refilling > 0 && !r.closed {
		ch := r.changedLocked()
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
	}
	var w *worker
	if len(r.idle) > 0 {
		w, r.idle = r.idle[0], r.idle[1:]
	}
	r.armDrainLocked()
	r.mu.Unlock()
	r.refillLater(ctx)
	if w != nil {
		return w, nil
	}
	return r.start()
}

// refillDelay is how long the pool waits after the last worker was taken
// before it refills: a worker's start (a process, the Go runtime, the
// confinement, wazero) takes 20–30 ms of CPU, and started at once it
// competed with the task that took the worker, on 2 cores making that
// task's own start, exit and delete slower by more than the pool saved
// (docs/RATIONALE.md, "Why does the pool refill only when starts pause?").
const refillDelay = 30 * time.Millisecond

// refillLater tops the pool up once no worker has been taken for
// refillDelay.
func (r *pool) refillLater(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size == 0 || r.closed {
		return
	}
	// The refill logs in the context of the take that last put it off.
	r.refillCtx = context.WithoutCancel(ctx)
	if r.refillTimer != nil {
		r.refillTimer.Reset(refillDelay)
		return
	}
	r.refillTimer = time.AfterFunc(refillDelay, func() {
		r.mu.Lock()
		ctx := r.refillCtx
		r.mu.Unlock()
		r.warm(ctx)
	})
}

// warm tops the pool up in the background.
func (r *pool) warm(ctx context.Context) {
	r.mu.Lock()
	refill := r.size > 0 && !r.closed
	if refill {
		r.refills.Add(1)
		r.refilling++
	}
	r.mu.Unlock()
	if refill {
		go func() {
			defer r.refills.Done()
			r.refill(context.WithoutCancel(ctx))
			r.mu.Lock()
			r.refilling--
			r.notifyLocked()
			r.mu.Unlock()
		}()
	}
}

// armDrainLocked (re)starts the wait after which the pool's idle workers
// are ended (Config.PoolIdle).
func (r *pool) armDrainLocked() {
	if r.idleFor <= 0 || r.closed {
		return
	}
	if r.drainTimer != nil {
		r.drainTimer.Reset(r.idleFor)
		return
	}
	r.drainTimer = time.AfterFunc(r.idleFor, r.drain)
}

// drain ends the idle workers of a pool nobody has drawn from for
// Config.PoolIdle: their memory (a Go runtime and wazero's engine each,
// docs/performance.md figure 4) is given back.
func (r *pool) drain() {
	r.mu.Lock()
	if r.closed { // Close ends them
		r.mu.Unlock()
		return
	}
	idle := r.idle
	r.idle = nil
	r.refills.Add(1) // Close waits for these to be gone
	r.mu.Unlock()
	defer r.refills.Done()
	for _, w := range idle {
		w.discard()
	}
}

// changedLocked is closed when a worker joins the pool or a refill ends.
func (r *pool) changedLocked() <-chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

func (r *pool) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

func (r *pool) refill(ctx context.Context) {
	for {
		r.mu.Lock()
		n := len(r.idle)
		closed := r.closed
		r.mu.Unlock()
		if closed || n >= r.size {
			return
		}
		w, err := r.start()
		if err != nil {
			log.G(ctx).WithError(err).Warn("refill worker pool")
			return
		}
		r.ready(ctx, w)
		r.mu.Lock()
		if r.closed || len(r.idle) >= r.size {
			r.mu.Unlock()
			w.discard()
			return
		}
		r.idle = append(r.idle, w)
		r.notifyLocked()
		r.armDrainLocked()
		r.mu.Unlock()
	}
}

// close ends the idle workers, once the refills under way are done.
func (r *pool) close() {
	r.mu.Lock()
	r.closed = true
	if r.refillTimer != nil {
		r.refillTimer.Stop()
	}
	if r.drainTimer != nil {
		r.drainTimer.Stop()
	}
	r.mu.Unlock()
	r.refills.Wait()
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, w := range idle {
		w.discard()
	}
}

// len is the number of idle workers.
func (r *pool) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.idle)
}
