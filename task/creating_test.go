package task

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// blockingRuntime's Prepare waits until release is closed, then refuses:
// a Create in progress for as long as the test needs.
type blockingRuntime struct {
	entered chan struct{}
	release chan struct{}
}

func (r *blockingRuntime) Prepare(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	close(r.entered)
	<-r.release
	return nil, errdefs.ErrUnavailable
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, any) {}

// TestCallsDuringCreate: every call naming a task whose Create is still in
// progress answers NotFound. The id is reserved while Create runs, and the
// calls used to dereference the reservation (nil) and panic (an Internal
// error through ttrpc's panic recovery, a crash without it).
func TestCallsDuringCreate(t *testing.T) {
	rt := &blockingRuntime{entered: make(chan struct{}), release: make(chan struct{})}
	s := NewService("sb", rt, nopPublisher{})
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(`{"process":{"args":["/m.wasm"],"cwd":"/"},"root":{"path":"rootfs"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() {
		_, err := s.Create(context.Background(), &taskapi.CreateTaskRequest{ID: "t", Bundle: bundle})
		created <- err
	}()
	<-rt.entered
	ctx := context.Background()
	calls := map[string]func() error{
		"State":   func() error { _, err := s.State(ctx, &taskapi.StateRequest{ID: "t"}); return err },
		"Start":   func() error { _, err := s.Start(ctx, &taskapi.StartRequest{ID: "t"}); return err },
		"Wait":    func() error { _, err := s.Wait(ctx, &taskapi.WaitRequest{ID: "t"}); return err },
		"Kill":    func() error { _, err := s.Kill(ctx, &taskapi.KillRequest{ID: "t", Signal: 9}); return err },
		"Delete":  func() error { _, err := s.Delete(ctx, &taskapi.DeleteRequest{ID: "t"}); return err },
		"Pids":    func() error { _, err := s.Pids(ctx, &taskapi.PidsRequest{ID: "t"}); return err },
		"Connect": func() error { _, err := s.Connect(ctx, &taskapi.ConnectRequest{ID: "t"}); return err },
		"CloseIO": func() error { _, err := s.CloseIO(ctx, &taskapi.CloseIORequest{ID: "t", Stdin: true}); return err },
		"Pause":   func() error { _, err := s.Pause(ctx, &taskapi.PauseRequest{ID: "t"}); return err },
		"Resume":  func() error { _, err := s.Resume(ctx, &taskapi.ResumeRequest{ID: "t"}); return err },
		"Stats":   func() error { _, err := s.Stats(ctx, &taskapi.StatsRequest{ID: "t"}); return err },
	}
	for name, call := range calls {
		if err := call(); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "being created") {
			t.Errorf("%s during Create: %v, want NotFound saying the task is being created", name, err)
		}
	}
	if _, err := s.Create(ctx, &taskapi.CreateTaskRequest{ID: "t", Bundle: bundle}); !errdefs.IsAlreadyExists(err) {
		t.Errorf("second Create during Create: %v, want AlreadyExists", err)
	}
	s.KillAll(ctx) // skips the reservation
	close(rt.release)
	if err := <-created; !errdefs.IsUnavailable(err) {
		t.Fatalf("Create: %v, want the runtime's error", err)
	}
	if s.Len() != 0 {
		t.Fatalf("failed Create left %d tasks", s.Len())
	}
}
