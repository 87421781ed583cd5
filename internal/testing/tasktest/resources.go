package tasktest

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	coreevents "github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/events"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// figures are the Metrics fields CRI reads, from cgroup v1 or v2 Metrics.
type figures struct {
	cpuNs, memUsage, memLimit, oomKills uint64
}

func figuresOf(t *testing.T, v any) figures {
	t.Helper()
	switch m := v.(type) {
	case *cg1.Metrics:
		return figures{m.GetCPU().GetUsage().GetTotal(), m.GetMemory().GetUsage().GetUsage(), m.GetMemory().GetUsage().GetLimit(), m.GetMemoryOomControl().GetOomKill()}
	case *cg2.Metrics:
		return figures{m.GetCPU().GetUsageUsec() * 1000, m.GetMemory().GetUsage(), m.GetMemory().GetUsageLimit(), m.GetMemoryEvents().GetOomKill()}
	}
	t.Fatalf("stats of type %T: not the cgroup Metrics CRI decodes", v)
	return figures{}
}

func (f *fixture) stats(id string) figures {
	f.t.Helper()
	r, err := f.client.Stats(f.ctx, &taskapi.StatsRequest{ID: id})
	if err != nil {
		f.t.Fatalf("Stats %s: %v", id, err)
	}
	v, err := typeurl.UnmarshalAny(r.Stats)
	if err != nil {
		f.t.Fatalf("Stats %s: %v", id, err)
	}
	return figuresOf(f.t, v)
}

// eventually polls cond (no timing is asserted: 60 s is a hang guard).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func withMemoryLimit(b *bundle, limit int64) *bundle {
	b.spec.Linux = &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}
	return b
}

// expectAdjacent checks that topic a is recorded right before topic b.
func (f *fixture) expectAdjacent(a, b string) {
	f.t.Helper()
	eventually(f.t, "events "+a+", "+b, func() bool {
		return strings.Contains(strings.Join(f.events.topics(0), " "), a+" "+b)
	})
}

var resourceCases = []testCase{
	{"stats: CPU time and memory in use, limit; the pod's totals", func(t *testing.T, f *fixture) {
		f.running(withMemoryLimit(spinBundle(t), 64<<20), "cpu")
		first := f.stats("cpu")
		var last figures
		eventually(t, "CPU time of a spinning module grows", func() bool {
			last = f.stats("cpu")
			return last.cpuNs > first.cpuNs
		})
		if last.memLimit != 64<<20 {
			t.Errorf("memory limit %d, want the spec's %d", last.memLimit, 64<<20)
		}
		f.running(demoBundle(t, "daemon"), "mem")
		var mem figures
		eventually(t, "memory in use of a Go module", func() bool {
			mem = f.stats("mem")
			return mem.memUsage > 0
		})
		pod, err := f.svc.Metrics(f.ctx)
		if err != nil {
			t.Fatalf("pod metrics: %v", err)
		}
		v, err := typeurl.UnmarshalAny(pod.Data)
		if err != nil {
			t.Fatal(err)
		}
		total := figuresOf(t, v)
		if total.cpuNs < last.cpuNs || total.memUsage == 0 || !strings.HasPrefix(pod.ID, "sandbox-") {
			t.Fatalf("pod totals %+v (id %q), below the spinning task's %+v", total, pod.ID, last)
		}
		if err := f.kill("cpu", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		f.wait("cpu")
		if after := f.stats("cpu"); after.cpuNs < last.cpuNs {
			t.Fatalf("stats after exit: CPU %d below %d", after.cpuNs, last.cpuNs)
		}
	}},
	{"oom: TaskOOM before TaskExit, counted in stats until delete", func(t *testing.T, f *fixture) {
		f.create(withMemoryLimit(demoBundle(t, "alloc", "128"), 64<<20), "oom")
		f.start("oom")
		expectCode(t, "alloc above limit", f.wait("oom"), runtime.ExitOOM)
		if s := f.stats("oom"); s.oomKills == 0 {
			t.Fatalf("stats after an OOM end: %+v, want an OOM kill counted (CRI reads it for reason OOMKilled)", s)
		}
		f.expectAdjacent("/tasks/oom", "/tasks/exit")
		f.delete("oom")
		for _, e := range f.events.snapshot() {
			if o, ok := e.event.(interface{ GetContainerID() string }); ok && e.topic == "/tasks/oom" && o.GetContainerID() != "oom" {
				t.Fatalf("oom event for %q", o.GetContainerID())
			}
		}
	}},
	{"update: a new memory limit applies to the next allocation; what cannot be honoured is refused", func(t *testing.T, f *fixture) {
		b := withMemoryLimit(demoBundle(t, "allocin"), 256<<20)
		b.withStdio(t, true)
		f.create(b, "up")
		w := openWriter(t, b.stdin)
		f.start("up")
		if _, err := w.Write([]byte("8\n")); err != nil {
			t.Fatal(err)
		}
		b.stdout.waitFor(t, "allocated 8 MiB")
		update := func(r *specs.LinuxResources) error {
			req := marshalResources(t, r)
			req.ID = "up"
			_, err := f.client.Update(f.ctx, req)
			return errgrpc.ToNative(err)
		}
		mem := func(n int64) *specs.LinuxMemory { return &specs.LinuxMemory{Limit: &n} }
		if err := update(&specs.LinuxResources{Memory: mem(64 << 10)}); !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("limit below the memory in use: %v, want FailedPrecondition", err)
		}
		weight := uint16(300)
		if err := update(&specs.LinuxResources{Memory: mem(256 << 20), BlockIO: &specs.LinuxBlockIO{Weight: &weight}}); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "blockIO") {
			t.Fatalf("blockIO: %v, want NotImplemented naming blockIO", err)
		}
		if err := update(&specs.LinuxResources{Memory: mem(48 << 20)}); err != nil {
			t.Fatalf("memory limit 48 MiB: %v", err)
		}
		shares := uint64(512)
		if err := update(&specs.LinuxResources{Memory: mem(48 << 20), CPU: &specs.LinuxCPU{Shares: &shares}}); err != nil &&
			(!errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "cpu.shares")) {
			t.Fatalf("cpu.shares: %v, want success or NotImplemented naming cpu.shares", err)
		}
		if s := f.stats("up"); s.memLimit != 48<<20 {
			t.Errorf("stats limit %d after update, want %d", s.memLimit, 48<<20)
		}
		// 8+64 MiB fit the limit the task was created with, not the new one.
		if _, err := w.Write([]byte("64\n")); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "alloc above the updated limit", f.wait("up"), runtime.ExitOOM)
		f.expectAdjacent("/tasks/oom", "/tasks/exit")
		if err := update(&specs.LinuxResources{Memory: mem(64 << 20)}); !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("update of an exited task: %v, want FailedPrecondition", err)
		}
	}},
	{"signals: SIGTERM 143, SIGKILL 137, SIGINT 130; Kill with All reaches execs", func(t *testing.T, f *fixture) {
		f.running(demoBundle(t, "daemon"), "sg")
		f.exec("sg", "e", &specs.Process{Args: []string{"/spin.wasm"}, Cwd: "/"}, nil)
		f.startExec("sg", "e")
		if _, err := f.client.Kill(f.ctx, &taskapi.KillRequest{ID: "sg", Signal: uint32(syscall.SIGTERM), All: true}); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "exec", f.waitExec("sg", "e"), 143)
		expectCode(t, "container", f.wait("sg"), 143)
		if err := f.kill("sg", syscall.SIGTERM); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "already finished") {
			t.Fatalf("kill of an exited task: %v, want NotFound (process already finished)", err)
		}
		// A module sleeping in the host is ended too.
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT} {
			id := fmt.Sprintf("sleeper-%d", sig)
			f.running(demoBundle(t, "sleep", "1h"), id)
			if err := f.kill(id, sig); err != nil {
				t.Fatalf("Kill %v: %v", sig, err)
			}
			expectCode(t, "sleeping module, "+sig.String(), f.wait(id), 128+uint32(sig))
		}
	}},
}

// stuckRemote is an event sink that never answers (containerd gone).
type stuckRemote struct{ release chan struct{} }

func (r stuckRemote) Publish(ctx context.Context, topic string, event coreevents.Event) error {
	<-r.release
	return fmt.Errorf("containerd unreachable")
}

var eventCases = []testCase{
	{"an unreachable event sink blocks no task and loses no exit", func(t *testing.T, f *fixture) {
		remote := stuckRemote{release: make(chan struct{})}
		fw := events.New(remote, 2)
		t.Cleanup(func() { close(remote.release); fw.Close() })
		g := serveWith(t, f.rt, fw)
		g.t = t
		for i := range 4 {
			id := fmt.Sprintf("ev%d", i)
			expectCode(t, id, g.run(demoBundle(t, "exit", fmt.Sprint(i)), id), uint32(i))
		}
		g.running(spinBundle(t), "spin")
		if err := g.kill("spin", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "spin", g.wait("spin"), 143)
	}},
}
