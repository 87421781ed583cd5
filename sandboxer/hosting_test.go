package sandboxer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs"
	"google.golang.org/protobuf/types/known/anypb"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
)

// fakePods stands for the forked mode's hosting, pod server processes
// that outlive the daemon and can die: it records what the controller
// asks of them.
type fakePods struct {
	mu      sync.Mutex
	servers map[string]*fakePod // by socket
	cleaned []string            // dirs
}

var _ Hosting = (*fakePods)(nil)

func newFakePods() *fakePods { return &fakePods{servers: map[string]*fakePod{}} }

type fakePod struct {
	pods         *fakePods
	dir          string
	netns        string
	cgroupParent string
	gone         chan struct{}
	killed       []time.Duration
	shutdown     bool
	detached     bool
	mu           sync.Mutex
}

func (f *fakePods) Start(_ context.Context, spec HostSpec) (Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(spec.Dir, 0o700); err != nil {
		return nil, err
	}
	p := &fakePod{pods: f, dir: spec.Dir, netns: spec.NetNS, cgroupParent: spec.CgroupParent, gone: make(chan struct{})}
	f.servers[spec.Socket] = p
	return p, nil
}

func (f *fakePods) Attach(_ context.Context, spec HostSpec) (Host, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.servers[spec.Socket]
	if !ok {
		return nil, errors.New("connection refused")
	}
	p.mu.Lock()
	p.detached = false
	p.mu.Unlock()
	return p, nil
}

func (f *fakePods) Reattach(ctx context.Context, spec HostSpec) (Host, error) {
	return f.Attach(ctx, spec)
}

func (f *fakePods) Clean(_ context.Context, dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleaned = append(f.cleaned, dir)
	return os.RemoveAll(dir)
}

func (f *fakePods) wasCleaned(dir string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.cleaned, dir)
}

func (p *fakePod) isGone() bool {
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

func (p *fakePod) KillAll(_ context.Context, timeout time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = append(p.killed, timeout)
	return nil
}

// Shutdown ends a live pod server (which exits), or cleans up after a
// dead one, as the forked hosting's hosts do.
func (p *fakePod) Shutdown(ctx context.Context) error {
	if p.isGone() {
		return p.pods.Clean(ctx, p.dir)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shutdown = true
	close(p.gone) // a pod server exits after Shutdown
	return nil
}

func (p *fakePod) Detach(context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.detached = true
}

func (p *fakePod) Tasks(context.Context) (int, error) { return 3, nil }
func (p *fakePod) Gone() <-chan struct{}              { return p.gone }
func (p *fakePod) Metrics(context.Context) (*types.Metric, error) {
	return &types.Metric{ID: "from-pod-server"}, nil
}

// TestForkedSandboxLivesInPodServer: a forked sandbox's endpoint is its pod
// server's socket; Stop, Status and Shutdown go to that pod server.
func TestForkedSandboxLivesInPodServer(t *testing.T) {
	pods := newFakePods()
	c := newController(t, stateDir(t), pods)
	resp := mustStart(t, c, "f1", forked)
	p := pods.servers[resp.Address[len("ttrpc+unix://"):]]
	if p == nil || p.netns != "/var/run/netns/f1" || resp.Version != sandboxapi.TaskAPIVersion {
		t.Fatalf("address %q: no pod server spawned for it (%v)", resp.Address, pods.servers)
	}
	st, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "f1", Verbose: true})
	if err != nil || st.State != sandboxapi.StateReady || st.Info["tasks"] != "3" || st.Info["mode"] != "forked" {
		t.Fatalf("status %v, %v", st, err)
	}
	if m, err := c.Metrics(bg(), &api.ControllerMetricsRequest{SandboxID: "f1"}); err != nil || m.Metrics.ID != "from-pod-server" {
		t.Fatalf("metrics %v, %v: want the pod server's", m, err)
	}
	if _, err := c.Stop(bg(), &api.ControllerStopRequest{SandboxID: "f1", TimeoutSecs: 7}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.killed, []time.Duration{7 * time.Second}) {
		t.Fatalf("pod server kills %v, want one bounded by 7s", p.killed)
	}
	if _, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: "f1"}); err != nil {
		t.Fatal(err)
	}
	if !p.shutdown {
		t.Fatal("Shutdown did not reach the pod server")
	}
	if _, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "f1"}); !errdefs.IsNotFound(err) {
		t.Fatalf("status after shutdown: %v", err)
	}
}

// TestPodServerDeathStopsSandbox: a pod server that dies takes its tasks
// with it: the sandbox is stopped (Wait returns 137) and its dir cleaned.
func TestPodServerDeathStopsSandbox(t *testing.T) {
	pods := newFakePods()
	dir := stateDir(t)
	c := newController(t, dir, pods)
	mustStart(t, c, "f2", forked)
	mustStart(t, c, "other", forked)
	waited := make(chan *api.ControllerWaitResponse, 1)
	go func() {
		r, _ := c.Wait(bg(), &api.ControllerWaitRequest{SandboxID: "f2"})
		waited <- r
	}()
	close(pods.servers[c.socketPath("f2")].gone)
	select {
	case r := <-waited:
		if r == nil || r.ExitStatus != exitHostGone {
			t.Fatalf("wait %v, want exit %d", r, exitHostGone)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the pod server died")
	}
	if st, _ := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "f2"}); st.State != sandboxapi.StateNotReady {
		t.Fatalf("state %s after the pod server died", st.State)
	}
	if st, _ := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: "other"}); st.State != sandboxapi.StateReady {
		t.Fatalf("another sandbox is %s", st.State)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !pods.wasCleaned(c.hostDir("f2")) {
		if time.Now().After(deadline) {
			t.Fatal("the dead pod server's dir was not cleaned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: "f2"}); err != nil {
		t.Fatalf("shutdown of a sandbox whose pod server died: %v", err)
	}
}

// TestRestartReattachesPodServers: a restarted daemon attaches again to the
// pod servers that run on; a sandbox whose pod server is gone is stopped,
// and the dirs of pod servers no sandbox owns are removed.
func TestRestartReattachesPodServers(t *testing.T) {
	pods := newFakePods()
	dir := stateDir(t)
	c1 := newController(t, dir, pods)
	mustStart(t, c1, "alive", forked)
	mustStart(t, c1, "dead", forked)
	stale := filepath.Join(dir, "pods", "0123456789abcdef")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	c1.Close(context.Background())
	alive := pods.servers[c1.socketPath("alive")]
	if !alive.detached || alive.shutdown {
		t.Fatal("a stopping daemon must detach from its pod servers, not shut them down")
	}
	delete(pods.servers, c1.socketPath("dead")) // it died while the daemon was down

	c2 := newController(t, dir, pods)
	if st, err := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: "alive", Verbose: true}); err != nil || st.State != sandboxapi.StateReady || st.Info["tasks"] != "3" {
		t.Fatalf("re-attached sandbox: %v, %v", st, err)
	}
	if alive.detached {
		t.Fatal("pod server not attached again")
	}
	if st, err := c2.Status(bg(), &api.ControllerStatusRequest{SandboxID: "dead"}); err != nil || st.State != sandboxapi.StateNotReady {
		t.Fatalf("sandbox whose pod server died: %v, %v", st, err)
	}
	for _, d := range []string{stale, c2.hostDir("dead")} {
		if !pods.wasCleaned(d) {
			t.Errorf("%s not cleaned (cleaned: %v)", d, pods.cleaned)
		}
	}
	if pods.wasCleaned(c2.hostDir("alive")) {
		t.Error("the live pod server's dir was cleaned")
	}
}

// TestRestartReattachesStoppedPodServers: the pod server of a stopped
// sandbox runs until Shutdown; after a daemon restart, Shutdown still ends
// it (it is attached again, not started: a stopped sandbox whose pod
// server is gone gets none).
func TestRestartReattachesStoppedPodServers(t *testing.T) {
	pods := newFakePods()
	dir := stateDir(t)
	c1 := newController(t, dir, pods)
	for _, id := range []string{"stopped", "stopped-gone"} {
		mustStart(t, c1, id, forked)
		if _, err := c1.Stop(bg(), &api.ControllerStopRequest{SandboxID: id}); err != nil {
			t.Fatal(err)
		}
	}
	c1.Close(context.Background())
	p := pods.servers[c1.socketPath("stopped")]
	delete(pods.servers, c1.socketPath("stopped-gone"))

	c2 := newController(t, dir, pods)
	if _, err := c2.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: "stopped"}); err != nil {
		t.Fatal(err)
	}
	if !p.shutdown {
		t.Error("Shutdown after a restart left the stopped sandbox's pod server running")
	}
	if _, ok := pods.servers[c2.socketPath("stopped-gone")]; ok {
		t.Error("a pod server was started for a stopped sandbox")
	}
	if _, err := c2.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: "stopped-gone"}); err != nil {
		t.Fatal(err)
	}
}

// TestPodServerGetsCRICgroupParent: a CRI pod's cgroup parent reaches its
// pod server (where its idle workers wait) and is kept in the sandbox's
// state; a pod without CRI options has none.
func TestPodServerGetsCRICgroupParent(t *testing.T) {
	pods := newFakePods()
	dir := stateDir(t)
	c := newController(t, dir, pods)
	opts, err := anypb.New(&cri.PodSandboxConfig{
		Annotations: forked,
		Linux:       &cri.LinuxPodSandboxConfig{CgroupParent: "/kubepods/besteffort/pod1234"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*api.ControllerCreateRequest{
		{SandboxID: "cri", Options: opts},
		{SandboxID: "plain", Annotations: forked},
	} {
		if _, err := c.Create(bg(), r); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Start(bg(), &api.ControllerStartRequest{SandboxID: r.SandboxID}); err != nil {
			t.Fatal(err)
		}
	}
	if got := pods.servers[c.socketPath("cri")].cgroupParent; got != "/kubepods/besteffort/pod1234" {
		t.Fatalf("pod server of the CRI pod got cgroup parent %q", got)
	}
	if got := pods.servers[c.socketPath("plain")].cgroupParent; got != "" {
		t.Fatalf("pod server of a pod without CRI options got cgroup parent %q", got)
	}
	st, err := NewStore(filepath.Join(dir, "sandboxes"))
	if err != nil {
		t.Fatal(err)
	}
	saved, errs := st.Load()
	i := slices.IndexFunc(saved, func(s State) bool { return s.ID == "cri" })
	if len(errs) != 0 || i < 0 || saved[i].CgroupParent != "/kubepods/besteffort/pod1234" {
		t.Fatalf("saved states %+v, %v: want the CRI pod's with its cgroup parent", saved, errs)
	}
}
