package sandboxer

import (
	"testing"

	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/errdefs"
)

func TestList(t *testing.T) {
	c := newController(t, stateDir(t), nil)
	mustStart(t, c, "ready1", nil)
	if _, err := c.Create(bg(), &api.ControllerCreateRequest{SandboxID: "created2"}); err != nil {
		t.Fatal(err)
	}
	got := c.List(bg(), true)
	if len(got) != 2 {
		t.Fatalf("List: %d sandboxes, want 2", len(got))
	}
	for _, s := range got {
		want := map[string]Phase{"ready1": PhaseReady, "created2": PhaseCreated}[s.State.ID]
		if s.State.Phase != want || s.Tasks != 0 || s.TasksErr != nil || s.State.Mode != ModeGoroutine {
			t.Errorf("%s: %+v, want phase %s, 0 tasks, goroutine", s.State.ID, s, want)
		}
	}
	if s := c.List(bg(), false); s[0].Tasks != -1 {
		t.Errorf("tasks not asked for: %d, want -1", s[0].Tasks)
	}
	if m, err := c.ModeOf("ready1"); err != nil || m != ModeGoroutine {
		t.Errorf("ModeOf: %q, %v", m, err)
	}
	if _, err := c.ModeOf("nope"); !errdefs.IsNotFound(err) {
		t.Errorf("ModeOf of an unknown sandbox: %v", err)
	}
}
