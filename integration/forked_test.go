//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// taskPid asks containerd for a running container's pid (what `ctr task ls`
// shows).
func taskPid(t *testing.T, id string) int {
	t.Helper()
	out, err := ctrIn(t, "k8s.io", "", "task", "ls")
	if err != nil {
		t.Fatalf("ctr task ls: %v\n%s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("task %s not listed:\n%s", id, out)
	return 0
}

func sandboxerPid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shared.dir, "sandboxer.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func seccompMode(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Seccomp:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestForkedPodCRI: pods of RuntimeClass handler wasm-forked (and pods
// annotated wasm-sandboxer.io/runtime=forked) run each container in its own
// confined worker process: a real pid of its own, in its own pid namespace,
// under seccomp; output, exit codes and stop work as in goroutine mode.
func TestForkedPodCRI(t *testing.T) {
	annotated := func(c *cri.PodSandboxConfig) {
		c.Annotations = map[string]string{"wasm-sandboxer.io/runtime": "forked"}
	}
	for _, tc := range []struct {
		name string
		pod  func(t *testing.T) *pod
	}{
		{"handler wasm-forked", func(t *testing.T) *pod { return runPodWith(t, "wasm-forked") }},
		{"pod annotation", func(t *testing.T) *pod { return runPod(t, annotated) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pod(t)
			st, lines := runToExit(t, p, container{image: demoImage, args: []string{"echo", "from", "a", "worker"}})
			if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"from a worker"}) {
				t.Fatalf("exit %d, log %q", st.ExitCode, lines)
			}
			if st, _ := runToExit(t, p, container{image: demoImage, args: []string{"exit", "42"}}); st.ExitCode != 42 {
				t.Fatalf("exit code %d, want 42", st.ExitCode)
			}
			id := p.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
			pid := taskPid(t, id)
			if pid == sandboxerPid(t) || pid == 0 {
				t.Fatalf("container pid %d is the daemon's: not forked", pid)
			}
			if m := seccompMode(t, pid); m != "2" {
				t.Fatalf("worker %d Seccomp: %q, want 2 (filter)", pid, m)
			}
			ours, _ := os.Readlink("/proc/self/ns/pid")
			theirs, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			if ours == theirs {
				t.Fatal("worker shares the host's pid namespace")
			}
			stop(t, id, 10)
			if st := waitExited(t, id); st.ExitCode != 143 {
				t.Fatalf("stopped worker: exit %d, want 143", st.ExitCode)
			}
		})
	}
}
