package metrics

import (
	"context"
	"sync"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/prometheus/client_golang/prometheus"
)

// Publisher is what forwards task events (task.Publisher).
type Publisher interface {
	Publish(ctx context.Context, event any)
}

// Publisher returns next, counting the task events it forwards: each
// process's state (created, running, paused, stopped) and OOMs.
func (m *Metrics) Publisher(next Publisher) Publisher { return countingPublisher{m: m, next: next} }

type countingPublisher struct {
	m    *Metrics
	next Publisher
}

func (p countingPublisher) Publish(ctx context.Context, event any) {
	p.m.observe(event)
	p.next.Publish(ctx, event)
}

func (m *Metrics) observe(event any) {
	t := m.tasks
	switch e := event.(type) {
	case *eventstypes.TaskCreate:
		t.set(e.ContainerID, "", StateCreated)
	case *eventstypes.TaskStart:
		t.set(e.ContainerID, "", StateRunning)
	case *eventstypes.TaskExecAdded:
		t.set(e.ContainerID, e.ExecID, StateCreated)
	case *eventstypes.TaskExecStarted:
		t.set(e.ContainerID, e.ExecID, StateRunning)
	case *eventstypes.TaskPaused:
		t.set(e.ContainerID, "", StatePaused)
	case *eventstypes.TaskResumed:
		t.set(e.ContainerID, "", StateRunning)
	case *eventstypes.TaskExit:
		t.set(e.ContainerID, execOf(e.ContainerID, e.ID), StateStopped)
	case *eventstypes.TaskDelete:
		t.remove(e.ContainerID, execOf(e.ContainerID, e.ID))
		m.forgetCreate(e.ContainerID)
	case *eventstypes.TaskOOM:
		m.ooms.Inc()
	}
}

// execOf is the exec id an event's id names ("" for the init process,
// whose id is the container's).
func execOf(containerID, id string) string {
	if id == containerID {
		return ""
	}
	return id
}

// taskTracker knows the state of each process from the events.
type taskTracker struct {
	mu    sync.Mutex
	procs map[string]map[string]string // container id → exec id ("" = init) → state
}

func newTaskTracker() *taskTracker { return &taskTracker{procs: map[string]map[string]string{}} }

func (t *taskTracker) set(container, exec, state string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs[container] == nil {
		t.procs[container] = map[string]string{}
	}
	t.procs[container][exec] = state
}

// remove forgets an exec, or a container with its execs.
func (t *taskTracker) remove(container, exec string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if exec == "" {
		delete(t.procs, container)
		return
	}
	delete(t.procs[container], exec)
}

func (t *taskTracker) counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := map[string]int{}
	for _, execs := range t.procs {
		for _, st := range execs {
			n[st]++
		}
	}
	return n
}

var tasksDesc = prometheus.NewDesc("wasm_sandboxer_tasks",
	"Task processes (containers and execs) by state, from the task events of each process.", []string{"runtime", "state"}, nil)

// taskCollector reports the tracker's counts, every state always present.
type taskCollector struct{ m *Metrics }

func (c taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tasksDesc }

func (c taskCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.m.tasks.counts()
	for _, st := range taskStates {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(n[st]), c.m.runtime, st)
	}
}
