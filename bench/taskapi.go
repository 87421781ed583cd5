package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/ttrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// TaskAPI is one sandbox's task service over ttrpc, as containerd reaches
// it, without containerd: figure 2 drives it as containerd would.
type TaskAPI struct {
	svc    *task.Service
	srv    *ttrpc.Server
	conn   *ttrpc.Client
	client taskapi.TTRPCTaskService
	bundle string
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, any) {}

// NewTaskAPI serves rt's task service on a socket in dir, with one bundle
// in dir whose rootfs holds module as /hello.wasm.
func NewTaskAPI(rt task.Runtime, dir string, module []byte) (*TaskAPI, error) {
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "hello.wasm"), module, 0o755); err != nil {
		return nil, err
	}
	spec, err := json.Marshal(&specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/hello.wasm"}, Cwd: "/"}})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), spec, 0o644); err != nil {
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
	t := &TaskAPI{svc: task.NewService("bench", rt, nopPublisher{}), srv: srv, bundle: bundle}
	taskapi.RegisterTTRPCTaskService(srv, t.svc)
	go srv.Serve(context.Background(), ln)
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Close()
		return nil, err
	}
	t.conn = ttrpc.NewClient(c)
	t.client = taskapi.NewTTRPCTaskClient(t.conn)
	return t, nil
}

// Run is one task's life: Create, Start, Wait, Delete (no stdio).
func (t *TaskAPI) Run(ctx context.Context, id string) error {
	ctx = namespaces.WithNamespace(ctx, "bench")
	if _, err := t.client.Create(ctx, &taskapi.CreateTaskRequest{ID: id, Bundle: t.bundle}); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	if _, err := t.client.Start(ctx, &taskapi.StartRequest{ID: id}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	w, err := t.client.Wait(ctx, &taskapi.WaitRequest{ID: id})
	if err != nil {
		return fmt.Errorf("wait: %w", err)
	}
	if w.ExitStatus != 0 {
		return fmt.Errorf("exit status %d", w.ExitStatus)
	}
	if _, err := t.client.Delete(ctx, &taskapi.DeleteRequest{ID: id}); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// Close stops the service and its server.
func (t *TaskAPI) Close() {
	t.svc.Close(context.Background())
	if t.conn != nil {
		t.conn.Close()
	}
	t.srv.Close()
}
