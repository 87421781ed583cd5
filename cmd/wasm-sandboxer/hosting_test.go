package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"

	"github.com/wasm-sandboxer/wasm-sandboxer/inprocess"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/podserver"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
)

// noRuntime refuses every module: these tests exercise hosting, not
// modules.
type noRuntime struct{}

func (noRuntime) Prepare(context.Context, runtime.ProcessSpec) (runtime.Process, error) {
	return nil, errdefs.ErrNotImplemented
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, any) {}

// askTask asks the task API on socket for an unknown task.
func askTask(socket string) error {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	_, err = taskapi.NewTTRPCTaskClient(client).State(context.Background(), &taskapi.StateRequest{ID: "no-such-task"})
	return err
}

// TestGoroutineHosting: a goroutine-mode sandbox's tasks are served from
// the daemon on the sandbox's socket, up after KillAll, gone after
// Shutdown; after a restart (Detach, then Attach) the endpoint is back at
// the same socket; nothing is left to clean.
func TestGoroutineHosting(t *testing.T) {
	dir, err := os.MkdirTemp("", "gh")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	g := inprocess.Hosting{Runtime: noRuntime{}, Publisher: nopPublisher{}}
	spec := sandboxer.HostSpec{ID: "pod", Socket: filepath.Join(dir, "t.sock"), Dir: filepath.Join(dir, "pod")}
	ctx := context.Background()
	h, err := g.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := askTask(spec.Socket); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("task endpoint: %v, want NotFound for an unknown task", err)
	}
	if n, err := h.Tasks(ctx); n != 0 || err != nil || h.Gone() != nil {
		t.Fatalf("tasks %d, %v, gone %v: want 0 and a host that cannot end by itself", n, err, h.Gone())
	}
	if err := h.KillAll(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := askTask(spec.Socket); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("task endpoint after KillAll: %v", err)
	}
	h.Detach(ctx) // the daemon stops
	if err := askTask(spec.Socket); err == nil {
		t.Fatal("task endpoint answers after Detach")
	}
	if h, err = g.Attach(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := askTask(spec.Socket); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("task endpoint after Attach: %v", err)
	}
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := askTask(spec.Socket); err == nil {
		t.Fatal("task endpoint answers after Shutdown")
	}
	if err := g.Clean(ctx, spec.Dir); err != nil {
		t.Fatal(err)
	}
}

// fakePodServer records what a podHost asks of its pod server.
type fakePodServer struct {
	mu       sync.Mutex
	gone     chan struct{}
	killed   []time.Duration
	shutdown bool
	detached bool
}

func (p *fakePodServer) KillAll(_ context.Context, timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = append(p.killed, timeout)
	return nil
}

func (p *fakePodServer) Shutdown(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shutdown = true
	close(p.gone) // a pod server exits after Shutdown
	return nil
}

func (p *fakePodServer) Detach() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detached = true
}

func (p *fakePodServer) Info(context.Context) (podserver.Info, error) {
	return podserver.Info{Tasks: 3}, nil
}
func (p *fakePodServer) Gone() <-chan struct{} { return p.gone }
func (p *fakePodServer) Stats(context.Context) (*types.Metric, error) {
	return &types.Metric{ID: "from-pod-server"}, nil
}

// TestPodHost: a live pod server is asked to kill and shut down; one that
// died is not asked anything, and its Shutdown cleans its dir instead.
func TestPodHost(t *testing.T) {
	ctx := context.Background()
	var cleaned []string
	clean := func(_ context.Context, dir string) error { cleaned = append(cleaned, dir); return nil }

	live := &fakePodServer{gone: make(chan struct{})}
	h := &podHost{ps: live, dir: "/pods/live", clean: clean}
	if n, err := h.Tasks(ctx); n != 3 || err != nil {
		t.Fatalf("tasks %d, %v", n, err)
	}
	if m, err := h.Metrics(ctx); err != nil || m.ID != "from-pod-server" {
		t.Fatalf("metrics %v, %v: want the pod server's", m, err)
	}
	if err := h.KillAll(ctx, 7*time.Second); err != nil || !slices.Equal(live.killed, []time.Duration{7 * time.Second}) {
		t.Fatalf("KillAll: %v; kills %v, want one bounded by 7s", err, live.killed)
	}
	h.Detach(ctx)
	if !live.detached || live.shutdown {
		t.Fatal("Detach must detach from the pod server, not shut it down")
	}
	if err := h.Shutdown(ctx); err != nil || !live.shutdown || len(cleaned) != 0 {
		t.Fatalf("Shutdown: %v; pod server shut down %v, cleaned %v: want it shut down, nothing cleaned by the daemon", err, live.shutdown, cleaned)
	}

	dead := &fakePodServer{gone: make(chan struct{})}
	close(dead.gone)
	h = &podHost{ps: dead, dir: "/pods/dead", clean: clean}
	if err := h.KillAll(ctx, time.Second); err != nil || len(dead.killed) != 0 {
		t.Fatalf("KillAll of a dead pod server: %v, kills %v", err, dead.killed)
	}
	if err := h.Shutdown(ctx); err != nil || dead.shutdown || !slices.Equal(cleaned, []string{"/pods/dead"}) {
		t.Fatalf("Shutdown of a dead pod server: %v; asked %v, cleaned %v: want its dir cleaned", err, dead.shutdown, cleaned)
	}
}

// TestForkedHostingConfig: a pod server's config is the daemon's settings
// plus its sandbox's, complete as the pod server requires it.
func TestForkedHostingConfig(t *testing.T) {
	o := options{stateDir: "/run/wsd", logLevel: "debug", logFormat: "json", containerdAddress: "/run/c.sock",
		workerPoolSize: 5, workerPoolIdle: time.Minute}
	f := newForkedHosting(o, "/usr/bin/wasm-sandboxer-worker", metrics.NewRemotes())
	got := f.configFor(sandboxer.HostSpec{ID: "pod", Socket: "/run/wsd/s/1.sock", Dir: "/run/wsd/pods/1",
		NetNS: "/var/run/netns/x", CgroupParent: "/kubepods/pod1"})
	want := podserver.Config{Sandbox: "pod", Socket: "/run/wsd/s/1.sock", Dir: "/run/wsd/pods/1",
		NetNS: "/var/run/netns/x", CgroupParent: "/kubepods/pod1", ContainerdAddress: "/run/c.sock",
		CompileCache: "/run/wsd/compile-cache", CompiledMemo: "/run/wsd/compiled-modules",
		WorkerBinary: "/usr/bin/wasm-sandboxer-worker", WorkerPoolSize: 5, WorkerPoolIdle: time.Minute,
		LogLevel: "debug", LogFormat: "json"}
	if got != want {
		t.Fatalf("config %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.spawner.Args, []string{podserver.Role}) {
		t.Fatalf("pod server args %q", f.spawner.Args)
	}
}

// TestHostingConfig: without a worker binary forked sandboxes are refused
// naming --worker-binary; the forked sandboxer name selects forked mode.
func TestHostingConfig(t *testing.T) {
	o := options{forkedSandboxer: "wasm-forked"}
	cfg := hostingConfig(o, nil, inprocess.Hosting{})
	if _, ok := cfg.Hosts[sandboxer.ModeForked]; ok || !strings.Contains(cfg.Unhosted[sandboxer.ModeForked], "--worker-binary") {
		t.Fatalf("no worker binary: hosts %v, unhosted %v", cfg.Hosts, cfg.Unhosted)
	}
	if cfg.Sandboxers["wasm-forked"] != sandboxer.ModeForked {
		t.Fatalf("sandboxers %v", cfg.Sandboxers)
	}
	pods := newForkedHosting(o, "/w", metrics.NewRemotes())
	cfg = hostingConfig(options{}, &pods, inprocess.Hosting{})
	if _, ok := cfg.Hosts[sandboxer.ModeForked]; !ok || len(cfg.Unhosted) != 0 || len(cfg.Sandboxers) != 0 {
		t.Fatalf("with a worker binary, no forked sandboxer: %+v", cfg)
	}
}
