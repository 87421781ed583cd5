package sandboxer

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/anypb"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// noRuntime refuses every module: these tests exercise the sandbox
// lifecycle, not modules (task/tasktest does).
type noRuntime struct{}

func (noRuntime) Prepare(context.Context, runtime.ProcessSpec) (runtime.Process, error) {
	return nil, errdefs.ErrNotImplemented
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, any) {}

// localHosting hosts goroutine-mode sandboxes as the daemon does
// (cmd/wasm-sandboxer): a task service, here of noRuntime, served on the
// sandbox's socket.
type localHosting struct{}

func (localHosting) Start(ctx context.Context, spec HostSpec) (Host, error) {
	var opts []task.ServiceOption
	if spec.ShutdownWhenEmpty != nil {
		opts = append(opts, task.WithShutdownWhenEmpty(spec.ShutdownWhenEmpty))
	}
	tasks := task.NewService(spec.ID, noRuntime{}, nopPublisher{}, opts...)
	srv, err := endpoint.Serve(ctx, spec.ID, spec.Socket, tasks)
	if err != nil {
		return nil, err
	}
	return &localHost{tasks: tasks, srv: srv}, nil
}

func (l localHosting) Attach(ctx context.Context, spec HostSpec) (Host, error) {
	return l.Start(ctx, spec)
}

func (localHosting) Reattach(context.Context, HostSpec) (Host, error) {
	return nil, errdefs.ErrNotFound
}

func (localHosting) Clean(context.Context, string) error { return nil }

type localHost struct {
	tasks *task.Service
	srv   *endpoint.Server
}

func (h *localHost) KillAll(ctx context.Context, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h.tasks.KillAll(ctx)
	return nil
}

func (h *localHost) Shutdown(ctx context.Context) error {
	h.tasks.Close(ctx)
	h.srv.Close(ctx)
	return nil
}

func (h *localHost) Detach(ctx context.Context)         { h.srv.Close(ctx) }
func (h *localHost) Tasks(context.Context) (int, error) { return h.tasks.Len(), nil }
func (h *localHost) Gone() <-chan struct{}              { return nil }
func (h *localHost) Metrics(ctx context.Context) (*types.Metric, error) {
	return h.tasks.Metrics(ctx)
}

// testConfig is a Controller's Config on state dir dir with no module
// runtime; pods, when not nil, host the forked sandboxes.
func testConfig(dir string, pods *fakePods) Config {
	cfg := Config{StateDir: dir, Hosts: map[Mode]Hosting{ModeGoroutine: localHosting{}},
		Unhosted: map[Mode]string{ModeForked: "no worker binary; see --worker-binary"}}
	if pods != nil {
		cfg.Hosts[ModeForked] = pods
	}
	return cfg
}

// newController is a Controller of testConfig(dir, pods), closed at the
// end of the test (closing twice is harmless).
func newController(t *testing.T, dir string, pods *fakePods) *Controller {
	t.Helper()
	c, err := New(context.Background(), testConfig(dir, pods))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func stateDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "sbx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func bg() context.Context { return namespaces.WithNamespace(context.Background(), "k8s.io") }

// forked are the annotations of a sandbox that runs forked.
var forked = map[string]string{AnnotationRuntime: string(ModeForked)}

// mustStart creates and starts sandbox id, in network namespace
// /var/run/netns/<id>, with annotations.
func mustStart(t *testing.T, c *Controller, id string, annotations map[string]string) *api.ControllerStartResponse {
	t.Helper()
	if _, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: id, NetnsPath: "/var/run/netns/" + id, Annotations: annotations}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	r, err := c.Start(bg(), &api.ControllerStartRequest{SandboxID: id})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

// dialTask checks that the address answers the task API of the sandbox.
func dialTask(t *testing.T, address string) error {
	t.Helper()
	path, ok := strings.CutPrefix(address, "ttrpc+unix://")
	if !ok {
		t.Fatalf("address %q is not ttrpc+unix://", address)
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	_, err = taskapi.NewTTRPCTaskClient(client).State(bg(), &taskapi.StateRequest{ID: "no-such-task"})
	return err
}

func TestLifecycle(t *testing.T) {
	c := newController(t, stateDir(t), nil)
	r := mustStart(t, c, "pod1", nil)
	if r.Version != sandboxapi.TaskAPIVersion || !strings.HasPrefix(r.Address, "ttrpc+unix:///") {
		t.Fatalf("start response %+v", r)
	}
	if err := dialTask(t, r.Address); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("task endpoint: %v, want NotFound for an unknown task", err)
	}
	st, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "pod1", Verbose: true})
	if err != nil || st.State != sandboxapi.StateReady || st.Address != r.Address || st.Version != 3 || st.Info["netns"] != "/var/run/netns/pod1" {
		t.Fatalf("status %+v, %v", st, err)
	}
	p, err := c.Platform(bg(), &api.ControllerPlatformRequest{SandboxID: "pod1"})
	if err != nil || p.Platform.OS != "linux" {
		t.Fatalf("platform %+v, %v", p, err)
	}

	waited := make(chan *api.ControllerWaitResponse, 1)
	go func() {
		w, err := c.Wait(bg(), &api.ControllerWaitRequest{SandboxID: "pod1"})
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- w
	}()
	select {
	case <-waited:
		t.Fatal("Wait returned while the sandbox is ready")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := c.Stop(bg(), &api.ControllerStopRequest{SandboxID: "pod1", TimeoutSecs: 1}); err != nil {
		t.Fatal(err)
	}
	w := <-waited
	if w == nil || w.ExitedAt.AsTime().IsZero() {
		t.Fatalf("wait response %+v", w)
	}
	st, _ = c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "pod1"})
	if st.State != sandboxapi.StateNotReady {
		t.Fatalf("state after stop %q", st.State)
	}
	// The endpoint stays up after Stop: containerd still deletes tasks.
	if err := dialTask(t, r.Address); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("task endpoint after stop: %v", err)
	}
	if _, err := c.Stop(bg(), &api.ControllerStopRequest{SandboxID: "pod1"}); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "pod1"}); !errdefs.IsNotFound(err) {
		t.Fatalf("status after shutdown: %v", err)
	}
	if err := dialTask(t, r.Address); err == nil {
		t.Fatal("task endpoint still answers after shutdown")
	}
}

func TestUnknownAndDuplicateIDs(t *testing.T) {
	c := newController(t, stateDir(t), nil)
	mustStart(t, c, "pod", nil)
	if _, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: "pod"}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	for _, id := range []string{"", "bad id/with slash", strings.Repeat("x", 100)} {
		if _, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: id}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %q: %v, want InvalidArgument", id, err)
		}
	}
	const id = "missing"
	calls := map[string]func() error{
		"Start":    func() error { _, err := c.Start(bg(), &api.ControllerStartRequest{SandboxID: id}); return err },
		"Platform": func() error { _, err := c.Platform(bg(), &api.ControllerPlatformRequest{SandboxID: id}); return err },
		"Stop":     func() error { _, err := c.Stop(bg(), &api.ControllerStopRequest{SandboxID: id}); return err },
		"Wait":     func() error { _, err := c.Wait(bg(), &api.ControllerWaitRequest{SandboxID: id}); return err },
		"Status":   func() error { _, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: id}); return err },
		"Shutdown": func() error { _, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: id}); return err },
		"Metrics":  func() error { _, err := c.Metrics(bg(), &api.ControllerMetricsRequest{SandboxID: id}); return err },
		"Update":   func() error { _, err := c.Update(bg(), &api.ControllerUpdateRequest{SandboxID: id}); return err },
	}
	for name, call := range calls {
		if err := call(); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), id) {
			t.Errorf("%s: %v, want NotFound naming the id", name, err)
		}
	}
	// The good sandbox is untouched by all of the above.
	if st, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "pod"}); err != nil || st.State != sandboxapi.StateReady {
		t.Fatalf("other sandbox: %+v, %v", st, err)
	}
}

// TestRestartAnswersForKnownSandboxes: a new Controller on the same state
// dir (the daemon restarted) answers Status and Wait for every sandbox, and
// serves the task endpoint of the ready ones at the same address.
func TestRestartAnswersForKnownSandboxes(t *testing.T) {
	dir := stateDir(t)
	c1 := newController(t, dir, nil)
	ready := mustStart(t, c1, "ready", nil)
	mustStart(t, c1, "stopped", nil)
	if _, err := c1.Stop(bg(), &api.ControllerStopRequest{SandboxID: "stopped"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Create(bg(), &api.ControllerCreateRequest{SandboxID: "created"}); err != nil {
		t.Fatal(err)
	}
	c1.Close(context.Background()) // the daemon goes away

	c2 := newController(t, dir, nil)
	want := map[string]string{"ready": sandboxapi.StateReady, "stopped": sandboxapi.StateNotReady, "created": sandboxapi.StateNotReady}
	for id, state := range want {
		st, err := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: id})
		if err != nil || st.State != state {
			t.Errorf("%s after restart: %+v, %v; want %s", id, st, err, state)
		}
	}
	st, _ := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: "ready"})
	if st.Address != ready.Address {
		t.Fatalf("address changed across restart: %q -> %q", ready.Address, st.Address)
	}
	if err := dialTask(t, st.Address); !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Fatalf("restored task endpoint: %v", err)
	}
	// A hang guard: the Wait of a stopped sandbox answers at once.
	ctx, cancel := context.WithTimeout(bg(), time.Minute)
	defer cancel()
	if w, err := c2.Wait(ctx, &api.ControllerWaitRequest{SandboxID: "stopped"}); err != nil || w.ExitedAt.AsTime().IsZero() {
		t.Fatalf("wait on a stopped sandbox after restart: %+v, %v", w, err)
	}
	// The Wait of a ready sandbox blocks until its own context ends.
	blocked, cancel := context.WithTimeout(bg(), 100*time.Millisecond)
	defer cancel()
	if _, err := c2.Wait(blocked, &api.ControllerWaitRequest{SandboxID: "ready"}); err != context.DeadlineExceeded {
		t.Fatalf("wait on a ready sandbox returned %v, want to block", err)
	}
}

func TestCorruptStateSkipped(t *testing.T) {
	dir := stateDir(t)
	c1 := newController(t, dir, nil)
	mustStart(t, c1, "good", nil)
	c1.Close(context.Background())
	if err := os.WriteFile(dir+"/sandboxes/bad.json", []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	c2 := newController(t, dir, nil)
	if st, err := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: "good"}); err != nil || st.State != sandboxapi.StateReady {
		t.Fatalf("good sandbox next to a corrupt file: %+v, %v", st, err)
	}
	if _, err := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: "bad"}); !errdefs.IsNotFound(err) {
		t.Fatalf("corrupt sandbox: %v", err)
	}
}

func TestStateDirTooLong(t *testing.T) {
	long := "/tmp/" + strings.Repeat("d", 120)
	_, err := New(context.Background(), testConfig(long, nil))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("%v, want a too-long error", err)
	}
	os.RemoveAll(long)
}

func TestModeSelection(t *testing.T) {
	cfg := testConfig(stateDir(t), newFakePods())
	cfg.Sandboxers = map[string]Mode{"wasm-forked": ModeForked}
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	podOpts := func(ann map[string]string) *anypb.Any {
		a, err := anypb.New(&cri.PodSandboxConfig{Annotations: ann})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name string
		req  *api.ControllerCreateRequest
		want Mode
	}{
		{"default sandboxer", &api.ControllerCreateRequest{Sandboxer: "wasm"}, ModeGoroutine},
		{"forked sandboxer", &api.ControllerCreateRequest{Sandboxer: "wasm-forked"}, ModeForked},
		{"pod annotation forked", &api.ControllerCreateRequest{Sandboxer: "wasm", Options: podOpts(map[string]string{AnnotationRuntime: "forked"})}, ModeForked},
		{"pod annotation goroutine", &api.ControllerCreateRequest{Sandboxer: "wasm-forked", Options: podOpts(map[string]string{AnnotationRuntime: "goroutine"})}, ModeGoroutine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.modeOf(tc.req)
			if err != nil || got != tc.want {
				t.Fatalf("mode %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := c.modeOf(&api.ControllerCreateRequest{Options: podOpts(map[string]string{AnnotationRuntime: "vm"})}); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), AnnotationRuntime) {
		t.Fatalf("bad annotation: %v", err)
	}
	noForked := newController(t, stateDir(t), nil)
	if _, err := noForked.Create(bg(), &api.ControllerCreateRequest{SandboxID: "f", Annotations: map[string]string{AnnotationRuntime: "forked"}}); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "--worker-binary") {
		t.Fatalf("forked without a worker: %v, want NotImplemented naming --worker-binary", err)
	}
}
