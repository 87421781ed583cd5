//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ctrEvents runs `ctr events` until stopped and returns its lines.
type ctrEvents struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func watchEvents(t *testing.T) *ctrEvents {
	t.Helper()
	e := &ctrEvents{cmd: exec.Command(filepath.Join(shared.out, "bin", "ctr"), "--address", shared.sock(), "events")}
	pipe, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			e.mu.Lock()
			e.out.WriteString(sc.Text() + "\n")
			e.mu.Unlock()
		}
	}()
	t.Cleanup(func() { e.cmd.Process.Kill(); e.cmd.Wait() })
	// ctr subscribes once it runs; an event of our own tells us when.
	marker := fmt.Sprintf("marker-%d", seq.Add(1))
	poll(t, "ctr events subscribed", func() bool {
		ctrIn(t, "default", "", "namespaces", "create", marker)
		ctrIn(t, "default", "", "namespaces", "remove", marker)
		return e.has("/namespaces/create", marker)
	})
	return e
}

func (e *ctrEvents) has(topic, substr string) bool {
	_, ok := e.find(topic, substr)
	return ok
}

// find returns the JSON of the first event of topic whose line has substr
// (a line is "TIMESTAMP NAMESPACE TOPIC JSON").
func (e *ctrEvents) find(topic, substr string) (map[string]any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range strings.Split(e.out.String(), "\n") {
		_, rest, ok := strings.Cut(l, " "+topic+" ")
		if !ok || !strings.Contains(l, substr) {
			continue
		}
		var v map[string]any
		json.Unmarshal([]byte(rest), &v)
		return v, true
	}
	return nil, false
}

// await waits for an event of topic naming substr and returns its JSON.
func (e *ctrEvents) await(t *testing.T, topic, substr string) map[string]any {
	t.Helper()
	var v map[string]any
	poll(t, fmt.Sprintf("%s event for %s in ctr events", topic, substr), func() bool {
		var ok bool
		v, ok = e.find(topic, substr)
		return ok
	})
	return v
}

// TestCtrEvents: `ctr events` shows a container's task events with the
// right ids and exit codes: create, start, exec-added, exec-started, exit
// (of the exec and of the task), delete, oom; and paused/resumed for a
// forked task (goroutine mode refuses pause, saying what would work).
func TestCtrEvents(t *testing.T) {
	ev := watchEvents(t)
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: demoImage, args: []string{"daemon"}})
		ev.await(t, "/tasks/create", id)
		ev.await(t, "/tasks/start", id)
		if r, err := execSync(t, id, 0, "/demo.wasm", "exit", "4"); err != nil || r.ExitCode != 4 {
			t.Fatalf("exec: %v %+v", err, r)
		}
		added := ev.await(t, "/tasks/exec-added", id)
		execID, _ := added["exec_id"].(string)
		if execID == "" {
			t.Fatalf("exec-added without an exec id: %v", added)
		}
		ev.await(t, "/tasks/exec-started", execID)
		if x := ev.await(t, "/tasks/exit", `"id":"`+execID+`"`); x["exit_status"] != float64(4) || x["container_id"] != id {
			t.Fatalf("exec exit event %v, want container %s exit 4", x, id)
		}

		out, err := ctrIn(t, "k8s.io", "", "task", "pause", id)
		if p.handler == "wasm" {
			if err == nil || !strings.Contains(err.Error(), "forked") {
				t.Fatalf("pause in goroutine mode: %v %q, want a refusal naming the forked runtime", err, out)
			}
		} else {
			if err != nil {
				t.Fatalf("ctr task pause: %v", err)
			}
			ev.await(t, "/tasks/paused", id)
			if out, err := ctrIn(t, "k8s.io", "", "task", "ls"); !strings.Contains(out, "PAUSED") {
				t.Fatalf("ctr task ls after pause: %v\n%s", err, out)
			}
			if _, err := ctrIn(t, "k8s.io", "", "task", "resume", id); err != nil {
				t.Fatalf("ctr task resume: %v", err)
			}
			ev.await(t, "/tasks/resumed", id)
		}

		stop(t, id, 30)
		if x := ev.await(t, "/tasks/exit", `"id":"`+id+`"`); x["exit_status"] != float64(143) {
			t.Fatalf("exit event %v, want 143", x)
		}
		if _, err := shared.runtime.RemoveContainer(ctx(t), &cri.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Fatal(err)
		}
		ev.await(t, "/tasks/delete", id)

		oom := p.create(t, container{image: demoImage, args: []string{"alloc", "128"}, config: withMemoryLimit(64 << 20)})
		start(t, oom)
		waitExited(t, oom)
		ev.await(t, "/tasks/oom", oom)
		if x := ev.await(t, "/tasks/exit", oom); x["exit_status"] != float64(137) {
			t.Fatalf("oom exit event %v, want 137", x)
		}
	})
}
