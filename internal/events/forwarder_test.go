package events_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	cevents "github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/events"
)

// wait bounds how long a test waits for something that must happen; it is
// a deadlock guard, not a performance expectation.
const wait = 10 * time.Second

type call struct {
	ctx   context.Context
	topic string
	event cevents.Event
}

// fakeRemote records every Publish on calls. If block is set, Publish waits
// for it to be closed after recording the call. err decides the result of
// the n-th call (from 0).
type fakeRemote struct {
	calls chan call
	block chan struct{}
	err   func(n int) error

	mu sync.Mutex
	n  int
}

func newFakeRemote() *fakeRemote { return &fakeRemote{calls: make(chan call, 1024)} }

func (r *fakeRemote) Publish(ctx context.Context, topic string, event cevents.Event) error {
	r.mu.Lock()
	n := r.n
	r.n++
	r.mu.Unlock()
	r.calls <- call{ctx: ctx, topic: topic, event: event}
	if r.block != nil {
		<-r.block
	}
	if r.err != nil {
		return r.err(n)
	}
	return nil
}

// next returns the next call, failing the test if none comes.
func (r *fakeRemote) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.calls:
		return c
	case <-time.After(wait):
		t.Fatal("no event reached the remote")
		return call{}
	}
}

// none checks no call arrives within d. It can miss a late call, never
// report a false one.
func (r *fakeRemote) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-r.calls:
		t.Errorf("unexpected event %s %v reached the remote", c.topic, c.event)
	case <-time.After(d):
	}
}

func nsCtx() context.Context {
	return namespaces.WithNamespace(context.Background(), "test-ns")
}

// publishReturns runs fn in a goroutine and fails if it does not return.
func publishReturns(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%s blocked", what)
	}
}

func TestForwarderOrderAndTopics(t *testing.T) {
	tests := []struct {
		event any
		topic string
	}{
		{&apievents.TaskCreate{ContainerID: "c1"}, runtime.TaskCreateEventTopic},
		{&apievents.TaskStart{ContainerID: "c1", Pid: 1}, runtime.TaskStartEventTopic},
		{&apievents.TaskOOM{ContainerID: "c1"}, runtime.TaskOOMEventTopic},
		{&apievents.TaskExecAdded{ContainerID: "c1", ExecID: "e"}, runtime.TaskExecAddedEventTopic},
		{&apievents.TaskExecStarted{ContainerID: "c1", ExecID: "e"}, runtime.TaskExecStartedEventTopic},
		{&apievents.TaskPaused{ContainerID: "c1"}, runtime.TaskPausedEventTopic},
		{&apievents.TaskResumed{ContainerID: "c1"}, runtime.TaskResumedEventTopic},
		{&apievents.TaskCheckpointed{ContainerID: "c1"}, runtime.TaskCheckpointedEventTopic},
		{&apievents.TaskExit{ContainerID: "c1", ExitStatus: 3}, runtime.TaskExitEventTopic},
		{&apievents.TaskDelete{ContainerID: "c1", ExitStatus: 3}, runtime.TaskDeleteEventTopic},
	}
	// The topics are containerd's well-known strings.
	for topic, want := range map[string]string{
		runtime.TaskCreateEventTopic: "/tasks/create",
		runtime.TaskExitEventTopic:   "/tasks/exit",
		runtime.TaskStartEventTopic:  "/tasks/start",
		runtime.TaskDeleteEventTopic: "/tasks/delete",
	} {
		if topic != want {
			t.Fatalf("topic constant %q, want %q", topic, want)
		}
	}

	remote := newFakeRemote()
	f := events.New(remote, len(tests))
	defer f.Close()
	for _, tc := range tests {
		f.Publish(nsCtx(), tc.event)
	}
	for i, tc := range tests {
		c := remote.next(t)
		if c.event != tc.event {
			t.Errorf("event %d: got %T %v, want %T %v", i, c.event, c.event, tc.event, tc.event)
		}
		if c.topic != tc.topic {
			t.Errorf("event %d (%T): topic %q, want %q", i, tc.event, c.topic, tc.topic)
		}
		if ns, ok := namespaces.Namespace(c.ctx); !ok || ns != "test-ns" {
			t.Errorf("event %d: namespace %q (%v), want test-ns", i, ns, ok)
		}
	}
}

// TestForwarderDetachesCancellation checks an event published from a
// request context is still sent after the request returns, with its
// namespace.
func TestForwarderDetachesCancellation(t *testing.T) {
	remote := newFakeRemote()
	remote.block = make(chan struct{})
	f := events.New(remote, 4)
	defer f.Close()
	defer close(remote.block)

	f.Publish(nsCtx(), &apievents.TaskCreate{ContainerID: "first"})
	remote.next(t) // the forwarder is now busy with the first event

	ctx, cancel := context.WithCancel(nsCtx())
	ev := &apievents.TaskExit{ContainerID: "c"}
	f.Publish(ctx, ev)
	cancel()
	remote.block <- struct{}{} // release the first event

	c := remote.next(t)
	if c.event != ev {
		t.Fatalf("got %v, want %v", c.event, ev)
	}
	if err := c.ctx.Err(); err != nil {
		t.Errorf("remote got a cancelled context: %v", err)
	}
	if ns, _ := namespaces.Namespace(c.ctx); ns != "test-ns" {
		t.Errorf("namespace %q, want test-ns", ns)
	}
}

// TestForwarderFullQueueDrops checks Publish never blocks when the remote
// hangs, keeps the events that fit the queue in order and drops the rest.
func TestForwarderFullQueueDrops(t *testing.T) {
	const queue = 2
	remote := newFakeRemote()
	remote.block = make(chan struct{})
	f := events.New(remote, queue)
	defer f.Close()

	first := &apievents.TaskCreate{ContainerID: "0"}
	f.Publish(nsCtx(), first)
	if c := remote.next(t); c.event != first {
		t.Fatalf("got %v, want %v", c.event, first)
	}
	// The remote now hangs: queue events fit, the others are dropped.
	var sent []*apievents.TaskStart
	publishReturns(t, "Publish with a full queue", func() {
		for i := range 10 * queue {
			ev := &apievents.TaskStart{ContainerID: fmt.Sprint(i + 1)}
			sent = append(sent, ev)
			f.Publish(nsCtx(), ev)
		}
	})
	close(remote.block)
	for i := range queue {
		if c := remote.next(t); c.event != sent[i] {
			t.Errorf("queued event %d: got %v, want %v", i, c.event, sent[i])
		}
	}
	// Everything past the queue was dropped: the next event through is a
	// fresh one.
	last := &apievents.TaskDelete{ContainerID: "last"}
	f.Publish(nsCtx(), last)
	if c := remote.next(t); c.event != last {
		t.Errorf("after the queue drained: got %v, want %v (a dropped event was sent)", c.event, last)
	}
}

// TestForwarderRemoteErrors checks failed sends do not stop later ones.
func TestForwarderRemoteErrors(t *testing.T) {
	tests := []struct {
		name string
		err  func(n int) error
	}{
		{"every call fails", func(int) error { return errors.New("containerd unavailable") }},
		{"every other call fails", func(n int) error {
			if n%2 == 0 {
				return errors.New("transient")
			}
			return nil
		}},
		{"context errors", func(int) error { return context.DeadlineExceeded }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remote := newFakeRemote()
			remote.err = tc.err
			f := events.New(remote, 16)
			defer f.Close()
			var sent []any
			for i := range 6 {
				ev := &apievents.TaskExit{ContainerID: fmt.Sprint(i)}
				sent = append(sent, ev)
				f.Publish(nsCtx(), ev)
			}
			for i, want := range sent {
				if c := remote.next(t); c.event != want {
					t.Errorf("event %d: got %v, want %v", i, c.event, want)
				}
			}
		})
	}
}

func TestForwarderNonEvent(t *testing.T) {
	tests := []struct {
		name  string
		value any
	}{
		{"nil", nil},
		{"string", "not an event"},
		{"int", 42},
		{"struct", struct{ A int }{1}},
		{"nil pointer of an unrelated type", (*time.Time)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remote := newFakeRemote()
			f := events.New(remote, 4)
			defer f.Close()
			publishReturns(t, "Publish of a non-event", func() { f.Publish(nsCtx(), tc.value) })
			// A real event after it still goes through, and is the first
			// thing the remote sees.
			ev := &apievents.TaskCreate{ContainerID: "c"}
			f.Publish(nsCtx(), ev)
			c := remote.next(t)
			if c.event == ev {
				return
			}
			if c.topic == runtime.TaskUnknownTopic && tc.value != nil {
				t.Fatalf("non-event %T forwarded with topic %q", tc.value, c.topic)
			}
			t.Errorf("remote got %s %v, want only %v", c.topic, c.event, ev)
		})
	}
}

func TestForwarderClose(t *testing.T) {
	remote := newFakeRemote()
	remote.block = make(chan struct{})
	f := events.New(remote, 8)

	first := &apievents.TaskCreate{ContainerID: "first"}
	f.Publish(nsCtx(), first)
	if c := remote.next(t); c.event != first {
		t.Fatalf("got %v, want %v", c.event, first)
	}
	f.Close()
	f.Close() // idempotent
	publishReturns(t, "Publish after Close", func() {
		for i := range 100 {
			f.Publish(nsCtx(), &apievents.TaskExit{ContainerID: fmt.Sprint(i)})
		}
	})
	close(remote.block)
	remote.none(t, 200*time.Millisecond)
}

// TestForwarderCloseDropsQueued checks events still queued at Close are not
// sent afterwards, as Close documents.
func TestForwarderCloseDropsQueued(t *testing.T) {
	const rounds = 20
	leaked := 0
	for range rounds {
		remote := newFakeRemote()
		remote.block = make(chan struct{})
		f := events.New(remote, 8)
		f.Publish(nsCtx(), &apievents.TaskCreate{ContainerID: "first"})
		remote.next(t)
		for i := range 4 {
			f.Publish(nsCtx(), &apievents.TaskExit{ContainerID: fmt.Sprint(i)})
		}
		f.Close()
		close(remote.block)
		select {
		case <-remote.calls:
			leaked++
		case <-time.After(20 * time.Millisecond):
		}
	}
	if leaked > 0 {
		t.Fatalf("in %d of %d rounds a queued event was sent after Close", leaked, rounds)
	}
}

// TestNewRemoteNoListener checks Publish does not wait for a containerd
// that is not there.
func TestNewRemoteNoListener(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"missing socket", func(t *testing.T) string { return filepath.Join(t.TempDir(), "containerd.sock.ttrpc") }},
		{"unix scheme", func(t *testing.T) string { return "unix://" + filepath.Join(t.TempDir(), "c.sock.ttrpc") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := events.NewRemote(tc.addr(t))
			if err != nil {
				t.Fatalf("NewRemote: %v (it must connect lazily)", err)
			}
			defer f.Close()
			publishReturns(t, "Publish to an absent containerd", func() {
				for i := range 64 {
					f.Publish(nsCtx(), &apievents.TaskExit{ContainerID: fmt.Sprint(i)})
				}
			})
		})
	}
}
