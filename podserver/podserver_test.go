package podserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
)

// fakeTasks records the control calls; its task API methods are not used
// here (the embedded nil interface panics, which the server recovers).
type fakeTasks struct {
	taskapi.TTRPCTaskService

	mu        sync.Mutex
	killBound time.Duration // deadline distance seen by KillAll; -1 = none
	kills     int
	closed    bool
}

func (f *fakeTasks) KillAll(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kills++
	f.killBound = -1
	if d, ok := ctx.Deadline(); ok {
		f.killBound = time.Until(d)
	}
}

func (f *fakeTasks) Close(context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

func (f *fakeTasks) Len() int { return 2 }

func (f *fakeTasks) Metrics(context.Context) (*types.Metric, error) {
	return &types.Metric{ID: "pod-totals"}, nil
}

// The test binary doubles as a pod server: Spawn re-executes it with
// PODSERVER_TEST_CHILD set.
func TestMain(m *testing.M) {
	switch os.Getenv("PODSERVER_TEST_CHILD") {
	case "":
		os.Exit(m.Run())
	case "serve":
		cfg, err := ReadConfig(os.Stdin)
		if err != nil {
			Ready(err)
			os.Exit(1)
		}
		srv, err := endpoint.Serve(context.Background(), "child", cfg.Socket, &fakeTasks{})
		Ready(err)
		if err != nil {
			os.Exit(1)
		}
		<-srv.ShutdownRequested()
		srv.Close(context.Background())
		os.Exit(0)
	case "fail":
		Ready(errors.New("no such runtime"))
		os.Exit(1)
	case "main": // the real pod server's main, which refuses its config
		os.Exit(Main(os.Args[2:], nil))
	default: // dies before it is ready
		os.Exit(3)
	}
}

func socketIn(t *testing.T) string {
	d, err := os.MkdirTemp("", "ps")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "t.sock")
}

func waitGone(t *testing.T, cl *Client, what string) {
	t.Helper()
	select {
	case <-cl.Gone():
	case <-time.After(10 * time.Second):
		t.Fatalf("Gone not closed after %s", what)
	}
}

// serveAndDial serves fake tasks on a fresh socket and dials it; the
// server is closed at cleanup.
func serveAndDial(t *testing.T, opts ...endpoint.Option) (*endpoint.Server, *Client, *fakeTasks, string) {
	t.Helper()
	socket := socketIn(t)
	tasks := &fakeTasks{}
	srv, err := endpoint.Serve(context.Background(), "sb", socket, tasks, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	cl, err := Dial(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cl, tasks, socket
}

func TestControl(t *testing.T) {
	srv, cl, tasks, socket := serveAndDial(t)
	if st, err := os.Stat(socket); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v: want mode 0600", st.Mode(), err)
	}
	info, err := cl.Info(context.Background())
	if err != nil || info != (Info{Tasks: 2, Pid: os.Getpid()}) {
		t.Fatalf("info %+v, %v", info, err)
	}
	if m, err := cl.Stats(context.Background()); err != nil || m.ID != "pod-totals" {
		t.Fatalf("metrics %v, %v", m, err)
	}
	if err := cl.KillAll(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cl.KillAll(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if tasks.kills != 2 || tasks.killBound != -1 {
		t.Fatalf("kills %d, last bound %v; want 2, unbounded", tasks.kills, tasks.killBound)
	}
	select {
	case <-srv.ShutdownRequested():
		t.Fatal("shutdown requested before Shutdown")
	default:
	}
	if err := cl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !tasks.closed {
		t.Fatal("Shutdown did not close the tasks")
	}
	<-srv.ShutdownRequested()
	srv.Close(context.Background())
	waitGone(t, cl, "the server closed")
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}

func TestKillAllBound(t *testing.T) {
	_, cl, tasks, _ := serveAndDial(t)
	defer cl.Detach()
	if err := cl.KillAll(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if tasks.killBound <= 0 || tasks.killBound > time.Hour {
		t.Fatalf("KillAll bound %v, want at most 1h", tasks.killBound)
	}
}

func TestDetachIsNotGone(t *testing.T) {
	_, cl, _, socket := serveAndDial(t)
	cl.Detach()
	if cl.Gone() != nil {
		t.Fatal("a detached client reports its pod server gone")
	}
	// The server serves on: a new client attaches.
	cl2, err := Dial(context.Background(), socket)
	if err != nil {
		t.Fatalf("attach after detach: %v", err)
	}
	cl2.Detach()
}

func TestDialStaleSocket(t *testing.T) {
	socket := socketIn(t)
	ln, err := endpoint.Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close() // the file stays, no one listens: a pod server that died
	if _, err := Dial(context.Background(), socket); err == nil || !strings.Contains(err.Error(), socket) {
		t.Fatalf("dial of a dead pod server's socket: %v", err)
	}
}

func spawner(t *testing.T, role string) Spawner {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PODSERVER_TEST_CHILD", role)
	return Spawner{Binary: exe, Name: "pod-server-test", Args: []string{Role}, Stderr: os.Stderr}
}

// configFor is a complete pod server config serving socket.
func configFor(socket string) Config {
	return Config{Sandbox: "sb-1", Socket: socket, Dir: "/nonexistent/dir", ContainerdAddress: "/nonexistent/containerd.sock",
		CompileCache: "/nonexistent/cache", WorkerBinary: "/nonexistent/worker", LogLevel: "info", LogFormat: "text"}
}

func TestSpawn(t *testing.T) {
	cl, err := spawner(t, "serve").Spawn(context.Background(), configFor(socketIn(t)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Info(context.Background())
	if err != nil || info.Pid == os.Getpid() || info.Pid == 0 {
		t.Fatalf("spawned pod server info %+v, %v", info, err)
	}
	sid, err := unix.Getsid(info.Pid)
	if err != nil || sid != info.Pid {
		t.Fatalf("pod server session %d, %v: want a session of its own (%d)", sid, err, info.Pid)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", info.Pid))
	if string(cmdline) != "pod-server-test\x00"+Role+"\x00sb-1\x00" {
		t.Fatalf("argv %q, want the Spawner's name, its args and the sandbox id (what ps shows)", cmdline)
	}
	if err := cl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cl, "Shutdown")
}

func TestSpawnedServerKilled(t *testing.T) {
	cl, err := spawner(t, "serve").Spawn(context.Background(), configFor(socketIn(t)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(info.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, cl, "SIGKILL")
}

func TestSpawnFailures(t *testing.T) {
	for role, want := range map[string]string{
		"fail": "could not start: no such runtime",
		"die":  "exited before it was ready",
	} {
		t.Run(role, func(t *testing.T) {
			_, err := spawner(t, role).Spawn(context.Background(), configFor(socketIn(t)))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("spawn %s: %v, want %q", role, err, want)
			}
		})
	}
	sp := Spawner{Binary: "/nonexistent/wasm-sandboxer"}
	if _, err := sp.Spawn(context.Background(), configFor(socketIn(t))); err == nil || !strings.Contains(err.Error(), "/nonexistent/wasm-sandboxer") {
		t.Fatalf("spawn of a missing binary: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New(metrics.RuntimeForked)
	m.WorkerPool(func() int { return 5 })
	_, cl, _, _ := serveAndDial(t, endpoint.WithMetrics(m))
	defer cl.Detach()
	fams, err := cl.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fams {
		if f.GetName() == "wasm_sandboxer_worker_pool_idle" {
			found = f.Metric[0].GetGauge().GetValue() == 5
		}
	}
	if !found {
		t.Fatalf("the pod server's figures lack worker_pool_idle 5: %d families", len(fams))
	}
}
