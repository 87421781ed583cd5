package sandboxer

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/errdefs"
)

// TestConcurrentCreateShutdownSameID races Create+Start against Shutdown,
// Stop and Status of one sandbox id. Every call either succeeds or fails
// with the class its race explains (the id exists, is gone, or is
// stopped); once the last sandbox is shut down nothing is left behind: no
// state file (a restarted daemon would resurrect it) and no task socket (a
// task endpoint nobody can shut down any more).
func TestConcurrentCreateShutdownSameID(t *testing.T) {
	dir := stateDir(t)
	c := newController(t, dir, nil)
	const id, rounds = "racy", 200
	expected := func(err error) bool {
		return err == nil || errdefs.IsNotFound(err) || errdefs.IsAlreadyExists(err) || errdefs.IsFailedPrecondition(err)
	}
	note := func(what string, err error) {
		if !expected(err) {
			t.Errorf("%s: %v", what, err)
		}
	}
	for range rounds {
		var wg sync.WaitGroup
		_, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: id})
		note("Create", err)
		wg.Go(func() {
			_, err := c.Start(bg(), &api.ControllerStartRequest{SandboxID: id})
			note("Start", err)
		})
		wg.Go(func() {
			_, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: id})
			note("Create", err)
		})
		wg.Go(func() {
			_, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: id})
			note("Shutdown", err)
		})
		wg.Go(func() {
			_, err := c.Stop(bg(), &api.ControllerStopRequest{SandboxID: id})
			note("Stop", err)
			_, err = c.Status(bg(), &api.ControllerStatusRequest{SandboxID: id, Verbose: true})
			note("Status", err)
		})
		wg.Wait()
	}
	if _, err := c.Shutdown(bg(), &api.ControllerShutdownRequest{SandboxID: id}); err != nil && !errdefs.IsNotFound(err) {
		t.Fatalf("final Shutdown: %v", err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("after the last Shutdown, left behind: %v", left)
	}
	if _, err := c.Status(bg(), &api.ControllerStatusRequest{SandboxID: id}); !errdefs.IsNotFound(err) {
		t.Fatalf("Status after the last Shutdown: %v, want NotFound", err)
	}
}
