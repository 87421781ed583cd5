package task

import (
	"context"
	"fmt"
	"io"
	"sync"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

const (
	taskStatusCreated = tasktypes.Status_CREATED
	taskStatusRunning = tasktypes.Status_RUNNING
	taskStatusStopped = tasktypes.Status_STOPPED
)

// proc tracks one process of a task: whether it started, and its stdio.
type proc struct {
	id, execID            string
	p                     runtime.Process
	stdin, stdout, stderr string

	// exited is closed once the exit is published: Wait, State and
	// Delete look at it, never at the runtime's Done directly.
	exited chan struct{}

	mu      sync.Mutex
	started bool
	paused  bool
}

func newProc(id, execID string, p runtime.Process, stdin, stdout, stderr string) *proc {
	return &proc{id: id, execID: execID, p: p, stdin: stdin, stdout: stdout, stderr: stderr, exited: make(chan struct{})}
}

// start runs the process; onStart runs just before, under the lock.
func (p *proc) start(ctx context.Context, onStart func()) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.p.Done():
		return fmt.Errorf("process already finished: %w", errdefs.ErrFailedPrecondition)
	default:
	}
	if p.started {
		return fmt.Errorf("already started: %w", errdefs.ErrFailedPrecondition)
	}
	onStart()
	if err := p.p.Start(ctx); err != nil {
		return err
	}
	p.started = true
	return nil
}

func (p *proc) status() (tasktypes.Status, runtime.Exit) {
	select {
	case <-p.exited:
		return taskStatusStopped, p.p.Exit()
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.paused:
		return tasktypes.Status_PAUSED, runtime.Exit{}
	case p.started:
		return taskStatusRunning, runtime.Exit{}
	}
	return taskStatusCreated, runtime.Exit{}
}

// setPaused freezes or thaws a running process.
func (p *proc) setPaused(ctx context.Context, pause bool) error {
	pr, ok := p.p.(runtime.Pauser)
	if !ok {
		return fmt.Errorf("pause/resume needs the forked runtime (a module in goroutine mode shares the daemon's process): %w", errdefs.ErrNotImplemented)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return fmt.Errorf("task is not running: %w", errdefs.ErrFailedPrecondition)
	}
	if p.paused == pause {
		return nil
	}
	var err error
	if pause {
		err = pr.Pause(ctx)
	} else {
		err = pr.Resume(ctx)
	}
	if err != nil {
		return err
	}
	p.paused = pause
	return nil
}

// limitedReader fails instead of truncating when more than n bytes come.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("more than the %d bytes allowed", maxSpecBytes)
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}
