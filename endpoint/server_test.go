package endpoint

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// someTasks is a task service of three tasks; its task API methods are not
// used here.
type someTasks struct{ taskapi.TTRPCTaskService }

func (someTasks) KillAll(context.Context)                        {}
func (someTasks) Close(context.Context)                          {}
func (someTasks) Len() int                                       { return 3 }
func (someTasks) Metrics(context.Context) (*types.Metric, error) { return &types.Metric{}, nil }

// TestServeReplacesStaleSocket: Serve takes over a socket file a dead
// process left, serves the control API on it to root only, and removes it
// on Close.
func TestServeReplacesStaleSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "ep")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "t.sock")
	if err := os.WriteFile(socket, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(context.Background(), "sb", socket, someTasks{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(socket); err != nil || st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v, %v: want a socket of mode 0600", st.Mode(), err)
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	var info structpb.Struct
	if err := c.Call(context.Background(), ControlService, MethodInfo, &emptypb.Empty{}, &info); err != nil {
		t.Fatal(err)
	}
	if n := info.AsMap()["tasks"]; n != 3.0 {
		t.Fatalf("control Info tasks %v, want 3", n)
	}
	srv.Close(context.Background())
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
}
