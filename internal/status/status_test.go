package status

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

func TestFetchAndPrint(t *testing.T) {
	dir, err := os.MkdirTemp("", "st")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := Report{Version: "v1", Pid: 42, Started: started, StateDir: "/run/x", Forked: true, PodServers: 1,
		Sandboxes: []Sandbox{
			{ID: strings.Repeat("ab", 32), Namespace: "k8s.io", Mode: "forked", Phase: "ready", Tasks: 2, Created: started},
			{ID: "demo1", Namespace: "default", Mode: "goroutine", Phase: "stopped", Tasks: -1, Created: started},
		}}
	intercepted := ""
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		intercepted = info.FullMethod
		return h(ctx, req)
	}))
	Register(srv, func(context.Context) (Report, error) { return want, nil })
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Stop()

	got, err := Fetch(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pid != 42 || len(got.Sandboxes) != 2 || !got.Started.Equal(started) {
		t.Fatalf("report %+v", got)
	}
	if intercepted != "/wasm_sandboxer.status.v1.Status/Get" {
		t.Errorf("interceptor saw %q", intercepted)
	}
	var b strings.Builder
	if err := Print(&b, got, started.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"wasm-sandboxer v1, pid 42, up 1m30s", "on, 1 pod servers", "metrics:        off",
		"ababababababa  k8s.io", "forked", "demo1", "?"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, b.String())
		}
	}
	if _, err := Fetch(context.Background(), filepath.Join(dir, "none.sock")); err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Errorf("fetch from no daemon: %v", err)
	}
}
