package tasktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// TaskAPI is a runtime's task service served on a ttrpc socket, as
// containerd reaches a sandbox's task API, with a client of it and a
// bundle of the tiny hello module. It needs no testing.TB: the benchmarks'
// driver (bench/) runs it too.
type TaskAPI struct {
	Client  taskapi.TTRPCTaskService
	Service *task.Service
	// Hello is a bundle whose rootfs holds the tiny modules and whose
	// config.json runs /hello.wasm.
	Hello string
	srv   *ttrpc.Server
	conn  *ttrpc.Client
}

type discard struct{}

func (discard) Publish(context.Context, any) {}

// ServeTaskAPI serves rt's task service (events discarded) on
// dir/task.sock, a path that must fit a unix socket's 107 bytes, and writes
// the hello bundle to dir/hello. Close stops the service; dir stays the
// caller's.
func ServeTaskAPI(rt runtime.Runtime, dir string) (*TaskAPI, error) {
	return serveTaskAPI(rt, dir, discard{}, "tasktest")
}

// serveTaskAPI is ServeTaskAPI for sandbox sandboxID, publishing to pub.
func serveTaskAPI(rt runtime.Runtime, dir string, pub task.Publisher, sandboxID string) (*TaskAPI, error) {
	hello := filepath.Join(dir, "hello")
	if err := os.MkdirAll(filepath.Join(hello, "rootfs"), 0o755); err != nil {
		return nil, err
	}
	for name, b := range tiny.Modules() {
		if err := os.WriteFile(filepath.Join(hello, "rootfs", name), b, 0o755); err != nil {
			return nil, err
		}
	}
	spec, err := json.Marshal(&specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/hello.wasm"}, Env: []string{"PATH=/bin:/"}, Cwd: "/"}})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(hello, "config.json"), spec, 0o644); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "task.sock"))
	if err != nil {
		return nil, err
	}
	srv, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(rpcerr.TTRPCInterceptor))
	if err != nil {
		ln.Close()
		return nil, err
	}
	a := &TaskAPI{Service: task.NewService(sandboxID, rt, pub, task.WithImageModules(layerModules{})), Hello: hello, srv: srv}
	taskapi.RegisterTTRPCTaskService(srv, a.Service)
	go srv.Serve(context.Background(), ln)
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		a.Close()
		return nil, err
	}
	a.conn = ttrpc.NewClient(c)
	a.Client = taskapi.NewTTRPCTaskClient(a.conn)
	return a, nil
}

// HelloRequest creates task id from the hello bundle.
func (a *TaskAPI) HelloRequest(id string) *taskapi.CreateTaskRequest {
	return &taskapi.CreateTaskRequest{ID: id, Bundle: a.Hello}
}

// Lifecycle is one task's whole life, as containerd drives it: Create of
// req, Start, Wait, Delete. A task that exits other than 0 is an error. A
// ctx without a namespace gets Namespace.
func (a *TaskAPI) Lifecycle(ctx context.Context, req *taskapi.CreateTaskRequest) error {
	w, err := lifecycle(ctx, a.Client, req)
	if err == nil && w.ExitStatus != 0 {
		err = fmt.Errorf("task %s: exit status %d", req.ID, w.ExitStatus)
	}
	return err
}

// Close stops the service and its server.
func (a *TaskAPI) Close() {
	a.Service.Close(context.Background())
	if a.conn != nil {
		a.conn.Close()
	}
	a.srv.Close()
}

// lifecycle is Lifecycle over any client, whatever the exit status: it
// returns Wait's answer.
func lifecycle(ctx context.Context, c taskapi.TTRPCTaskService, req *taskapi.CreateTaskRequest) (*taskapi.WaitResponse, error) {
	if _, ok := namespaces.Namespace(ctx); !ok {
		ctx = namespaces.WithNamespace(ctx, Namespace)
	}
	id := req.ID
	if _, err := c.Create(ctx, req); err != nil {
		return nil, fmt.Errorf("create %s: %w", id, err)
	}
	if _, err := c.Start(ctx, &taskapi.StartRequest{ID: id}); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	w, err := c.Wait(ctx, &taskapi.WaitRequest{ID: id})
	if err != nil {
		return nil, fmt.Errorf("wait %s: %w", id, err)
	}
	if _, err := c.Delete(ctx, &taskapi.DeleteRequest{ID: id}); err != nil {
		return w, fmt.Errorf("delete %s: %w", id, err)
	}
	return w, nil
}

// StartToExit measures, b.N times, a task's whole life through the task
// API over ttrpc, as containerd drives it: Create, Start, Wait, Delete of
// the tiny hello module. It reports the median and p90 (nearest rank, as
// bench/ does) besides the mean. settle, when set, runs before each task
// with the clock stopped (e.g. to let a pool of workers refill).
func StartToExit(b *testing.B, rt runtime.Runtime, settle func()) {
	api, err := ServeTaskAPI(rt, shortTempDir(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(api.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(id string) {
		if err := api.Lifecycle(ctx, api.HelloRequest(id)); err != nil {
			b.Fatal(err)
		}
	}
	run("warm-up") // compiles the module once, fills a pool
	samples := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if settle != nil {
			b.StopTimer()
			settle()
			b.StartTimer()
		}
		start := time.Now()
		run(fmt.Sprintf("t%d", i))
		samples = append(samples, float64(time.Since(start).Microseconds()))
	}
	b.StopTimer()
	s := stats.Summarize(samples)
	b.ReportMetric(s.Median, "median-µs")
	b.ReportMetric(s.P90, "p90-µs")
}
