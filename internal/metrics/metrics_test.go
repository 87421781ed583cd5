package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

type nopPublisher struct{ n int }

func (p *nopPublisher) Publish(context.Context, any) { p.n++ }

func TestTaskStatesFromEvents(t *testing.T) {
	m := New(RuntimeForked)
	next := &nopPublisher{}
	pub := m.Publisher(next)
	ctx := context.Background()
	for _, e := range []any{
		&eventstypes.TaskCreate{ContainerID: "a"}, &eventstypes.TaskStart{ContainerID: "a"},
		&eventstypes.TaskCreate{ContainerID: "b"},
		&eventstypes.TaskCreate{ContainerID: "c"}, &eventstypes.TaskStart{ContainerID: "c"}, &eventstypes.TaskPaused{ContainerID: "c"},
		&eventstypes.TaskExecAdded{ContainerID: "a", ExecID: "x"}, &eventstypes.TaskExecStarted{ContainerID: "a", ExecID: "x"},
		&eventstypes.TaskExit{ContainerID: "a", ID: "x"},
		&eventstypes.TaskCreate{ContainerID: "d"}, &eventstypes.TaskStart{ContainerID: "d"}, &eventstypes.TaskOOM{ContainerID: "d"},
		&eventstypes.TaskExit{ContainerID: "d", ID: "d"}, &eventstypes.TaskDelete{ContainerID: "d", ID: "d"},
	} {
		pub.Publish(ctx, e)
	}
	if next.n != 14 {
		t.Fatalf("forwarded %d events, want 14", next.n)
	}
	want := map[string]float64{StateCreated: 1, StateRunning: 1, StatePaused: 1, StateStopped: 1}
	for st, n := range want {
		if got := gaugeOf(t, m, "wasm_sandboxer_tasks", "state", st); got != n {
			t.Errorf("tasks{state=%s} = %v, want %v", st, got, n)
		}
	}
	if got := testutil.ToFloat64(m.ooms); got != 1 {
		t.Errorf("ooms %v, want 1", got)
	}
	pub.Publish(ctx, &eventstypes.TaskDelete{ContainerID: "a", ID: "a"}) // with its exec
	if got := gaugeOf(t, m, "wasm_sandboxer_tasks", "state", StateStopped); got != 0 {
		t.Errorf("stopped after the container's delete: %v, want 0", got)
	}
}

// gaugeOf is the value of the series of family name whose label is value.
func gaugeOf(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					switch {
					case m.Gauge != nil:
						return m.Gauge.GetValue()
					case m.Counter != nil:
						return m.Counter.GetValue()
					case m.Histogram != nil:
						return float64(m.Histogram.GetSampleCount())
					}
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func call(m *Metrics, method string, req any, err error) {
	info := &ttrpc.UnaryServerInfo{FullMethod: "/containerd.task.v3.Task/" + method}
	m.TTRPCInterceptor(context.Background(), func(v any) error { //nolint:errcheck
		proto.Merge(v.(proto.Message), req.(proto.Message))
		return nil
	}, info, func(ctx context.Context, unmarshal func(any) error) (any, error) {
		v := proto.Clone(req.(proto.Message))
		proto.Reset(v)
		if err := unmarshal(v); err != nil {
			return nil, err
		}
		return nil, err
	})
}

func TestTaskStartAndErrors(t *testing.T) {
	m := New(RuntimeGoroutine)
	call(m, "Create", &taskapi.CreateTaskRequest{ID: "a"}, nil)
	call(m, "Start", &taskapi.StartRequest{ID: "a"}, nil)
	call(m, "Start", &taskapi.StartRequest{ID: "a"}, nil) // no Create before: not timed
	call(m, "Create", &taskapi.CreateTaskRequest{ID: "b"}, errgrpc.ToGRPC(errdefs.ErrNotFound))
	call(m, "Start", &taskapi.StartRequest{ID: "b"}, errgrpc.ToGRPC(errdefs.ErrNotFound))
	if got := gaugeOf(t, m, "wasm_sandboxer_task_start_seconds", "runtime", RuntimeGoroutine); got != 1 {
		t.Errorf("task starts timed: %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.rpcErrors.WithLabelValues("/containerd.task.v3.Task/Create", "NotFound")); got != 1 {
		t.Errorf("Create errors %v, want 1", got)
	}

	gi := m.GRPCInterceptor(func(string) string { return RuntimeForked })
	ok := func(context.Context, any) (any, error) { return nil, nil }
	fail := func(context.Context, any) (any, error) { return nil, errgrpc.ToGRPC(errdefs.ErrUnavailable) }
	gi(context.Background(), &sandboxapi.ControllerStartRequest{SandboxID: "s"}, &grpc.UnaryServerInfo{FullMethod: "/x/Start"}, ok) //nolint:errcheck
	gi(context.Background(), &sandboxapi.ControllerWaitRequest{SandboxID: "s"}, &grpc.UnaryServerInfo{FullMethod: "/x/Wait"}, fail) //nolint:errcheck
	if got := gaugeOf(t, m, "wasm_sandboxer_sandbox_start_seconds", "runtime", RuntimeForked); got != 1 {
		t.Errorf("sandbox starts timed: %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.rpcErrors.WithLabelValues("/x/Wait", "Unavailable")); got != 1 {
		t.Errorf("Wait errors %v, want 1", got)
	}
}

func TestFuncs(t *testing.T) {
	m := New(RuntimeForked)
	if got := gaugeOf(t, m, "wasm_sandboxer_compile_cache_hits_total", "runtime", RuntimeForked); got != 0 {
		t.Fatalf("hits before a source: %v", got)
	}
	m.CompileCache(func() (uint64, uint64) { return 3, 2 })
	m.WorkerPool(func() int { return 4 })
	if got := gaugeOf(t, m, "wasm_sandboxer_compile_cache_misses_total", "runtime", RuntimeForked); got != 2 {
		t.Errorf("misses %v, want 2", got)
	}
	fams, _ := m.Gather()
	for _, f := range fams {
		if f.GetName() == "wasm_sandboxer_worker_pool_idle" && f.Metric[0].Gauge.GetValue() != 4 {
			t.Errorf("pool idle %v, want 4", f.Metric[0].Gauge.GetValue())
		}
	}
	m.Register(Sandboxes(func() []Sandbox {
		return []Sandbox{{RuntimeForked, "ready"}, {RuntimeForked, "ready"}, {RuntimeGoroutine, "stopped"}}
	}, "created", "ready", "stopped"))
	if got := gaugeOf(t, m, "wasm_sandboxer_sandboxes", "phase", "created"); got != 0 {
		t.Errorf("created sandboxes %v, want 0", got)
	}
	n := 0.0
	fams, _ = m.Gather()
	for _, f := range fams {
		if f.GetName() == "wasm_sandboxer_sandboxes" {
			if len(f.Metric) != 6 {
				t.Errorf("%d sandbox series, want 6 (2 runtimes × 3 phases)", len(f.Metric))
			}
			for _, s := range f.Metric {
				n += s.Gauge.GetValue()
			}
		}
	}
	if n != 3 {
		t.Errorf("%v sandboxes in all, want 3", n)
	}
}

// source is a pod server as the daemon sees it.
type source struct {
	m   *Metrics
	err error
}

func (s source) Metrics(context.Context) ([]*dto.MetricFamily, error) {
	if s.err != nil {
		return nil, s.err
	}
	fams, err := s.m.Gather()
	if err != nil {
		return nil, err
	}
	b, err := Encode(fams) // as the control API carries them
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

func TestRemotesMerge(t *testing.T) {
	daemon := New(RuntimeGoroutine)
	pods := []*Metrics{New(RuntimeForked), New(RuntimeForked)}
	r := NewRemotes()
	for i, p := range pods {
		call(p, "Create", &taskapi.CreateTaskRequest{ID: "a"}, nil)
		call(p, "Start", &taskapi.StartRequest{ID: "a"}, nil)
		p.Publisher(&nopPublisher{}).Publish(context.Background(), &eventstypes.TaskCreate{ContainerID: "a"})
		p.WorkerPool(func() int { return i + 1 })
		r.Add(source{m: p})
	}
	gone := source{err: errors.New("gone")}
	r.Add(gone) // left out, not fatal
	g := GathererFunc(time.Second, func(ctx context.Context) ([]*dto.MetricFamily, error) {
		own, err := daemon.Gather()
		return Merge(append(r.Gather(context.Background()), own)...), err
	})
	wantPoolIdle(t, g, 3)
	if got := gaugeOf(t, g, "wasm_sandboxer_task_start_seconds", "runtime", RuntimeForked); got != 2 {
		t.Errorf("forked starts %v, want 2", got)
	}
	if got := gaugeOf(t, g, "wasm_sandboxer_tasks", "runtime", RuntimeForked); got == 0 {
		t.Errorf("no forked tasks")
	}
	// A pod server shut down keeps its counters, not its gauges.
	r.Retire(context.Background(), source{m: pods[0]})
	r.Remove(gone)
	if got := gaugeOf(t, g, "wasm_sandboxer_task_start_seconds", "runtime", RuntimeForked); got != 2 {
		t.Errorf("forked starts after a retire %v, want 2", got)
	}
	wantPoolIdle(t, g, 2)
	if r.Len() != 1 {
		t.Errorf("%d live sources, want 1", r.Len())
	}
}

func wantPoolIdle(t *testing.T, g prometheus.Gatherer, n int) {
	t.Helper()
	if err := testutil.GatherAndCompare(g, strings.NewReader(fmt.Sprintf(`
# HELP wasm_sandboxer_worker_pool_idle Idle, already confined forked workers waiting for a task, over every forked pod.
# TYPE wasm_sandboxer_worker_pool_idle gauge
wasm_sandboxer_worker_pool_idle %d
`, n)), "wasm_sandboxer_worker_pool_idle"); err != nil {
		t.Error(err)
	}
}
