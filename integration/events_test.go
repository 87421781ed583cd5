//go:build integration

package integration

import (
	"context"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/typeurl/v2"
)

// TestTaskEventsReachContainerd: the task events the daemon forwards reach
// containerd's event service (what `ctr events` shows), with the right
// container id and exit status.
func TestTaskEventsReachContainerd(t *testing.T) {
	client, err := containerd.New(shared.sock(), containerd.WithDefaultNamespace("k8s.io"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sub, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	evs, errs := client.Subscribe(sub, `topic~="/tasks/"`)

	p := runPod(t)
	id := p.create(t, container{image: demoImage, args: []string{"exit", "5"}})
	start(t, id)
	waitExited(t, id)

	want := map[string]bool{"/tasks/create": false, "/tasks/start": false, "/tasks/exit": false}
	for {
		select {
		case env := <-evs:
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				t.Fatal(err)
			}
			switch e := v.(type) {
			case *eventstypes.TaskCreate:
				want[env.Topic] = want[env.Topic] || e.ContainerID == id
			case *eventstypes.TaskStart:
				want[env.Topic] = want[env.Topic] || e.ContainerID == id
			case *eventstypes.TaskExit:
				if e.ContainerID == id {
					if e.ExitStatus != 5 {
						t.Fatalf("exit event status %d, want 5", e.ExitStatus)
					}
					want[env.Topic] = true
				}
			}
			if want["/tasks/create"] && want["/tasks/start"] && want["/tasks/exit"] {
				return
			}
		case err := <-errs:
			t.Fatalf("subscribe: %v (seen %v)", err, want)
		}
	}
}
