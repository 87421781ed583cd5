// Package events forwards task events to containerd's ttrpc events service
// without ever blocking the task that emits them.
package events

import (
	"context"
	"io"
	"sync"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/log"
)

// DefaultQueue is how many events may wait for a slow or absent containerd
// before new ones are dropped (and logged).
const DefaultQueue = 4096

// Remote sends one event; containerd's shim.RemoteEventsPublisher is one.
type Remote interface {
	Publish(ctx context.Context, topic string, event events.Event) error
}

// Forwarder queues events and sends them in order from one goroutine.
type Forwarder struct {
	remote Remote
	queue  chan item
	done   chan struct{}
	once   sync.Once
}

type item struct {
	ctx   context.Context
	topic string
	event events.Event
}

// NewRemote returns a Forwarder to containerd's ttrpc address (the grpc
// address + ".ttrpc"). It connects lazily, so containerd may start later.
func NewRemote(ttrpcAddress string) (*Forwarder, error) {
	p, err := shim.NewPublisher(ttrpcAddress)
	if err != nil {
		return nil, err
	}
	return New(p, DefaultQueue), nil
}

// New returns a Forwarder over remote with a queue of size n.
func New(remote Remote, n int) *Forwarder {
	f := &Forwarder{remote: remote, queue: make(chan item, n), done: make(chan struct{})}
	go f.run()
	return f
}

// Publish queues event; it never blocks. ctx must carry the namespace.
func (f *Forwarder) Publish(ctx context.Context, event any) {
	topic := runtime.GetTopic(event)
	if topic == runtime.TaskUnknownTopic {
		log.G(ctx).Errorf("not a task event: %T", event)
		return
	}
	select {
	case <-f.done:
		return
	default:
	}
	select {
	case f.queue <- item{ctx: context.WithoutCancel(ctx), topic: topic, event: event}:
	default:
		log.G(ctx).WithField("topic", topic).Warn("event queue full: event dropped")
	}
}

func (f *Forwarder) run() {
	for {
		select {
		case <-f.done:
			return
		case it := <-f.queue:
			select {
			case <-f.done: // Close drops what is queued
				return
			default:
			}
			if err := f.remote.Publish(it.ctx, it.topic, it.event); err != nil {
				log.G(it.ctx).WithError(err).WithField("topic", it.topic).Debug("forward event")
			}
		}
	}
}

// Close stops forwarding; queued events are dropped. A remote that is an
// io.Closer (containerd's publisher holds a ttrpc connection) is closed.
func (f *Forwarder) Close() {
	f.once.Do(func() {
		close(f.done)
		if c, ok := f.remote.(io.Closer); ok {
			c.Close()
		}
	})
}
