//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podServerDirs lists the working dirs of the daemon's pod servers.
func podServerDirs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(shared.dir, "sandboxer", "pods"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func ticks(t *testing.T, id string) int {
	t.Helper()
	n := 0
	for _, l := range streamLines(logs(t, status(t, id)), "stdout") {
		if strings.HasPrefix(l, "daemon tick ") {
			n++
		}
	}
	return n
}

// TestForkedTasksSurviveSandboxerRestart: a forked pod's tasks run on while
// the daemon is down (kill -9, or SIGTERM) and the restarted daemon
// re-attaches to them: the pod stays READY; a running module keeps its pid
// and keeps logging; a module stopped while the daemon was down, and one
// that exited on its own meanwhile, keep their exit codes (143, 42); the
// re-attached module can be stopped; goroutine-mode modules of the daemon
// are reported exited; removing the pod ends its pod server.
func TestForkedTasksSurviveSandboxerRestart(t *testing.T) {
	for _, sig := range []string{"KILL", "TERM"} {
		t.Run(sig, func(t *testing.T) {
			before := podServerDirs(t)
			t.Cleanup(func() { // runs after the pod's own cleanup removed it
				if after := podServerDirs(t); len(after) != len(before) {
					t.Errorf("pod server dirs %v after the pod was removed, want %v", after, before)
				}
			})
			p := runPodWith(t, "wasm-forked")
			g := runPod(t)
			spin := g.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
			tick := p.running(t, container{image: demoImage, args: []string{"daemon"}})
			stopMe := p.running(t, container{image: demoImage, args: []string{"daemon"}})
			later := p.create(t, container{image: demoImage, args: []string{"sleep", "2", "42"}})
			pid := taskPid(t, tick)

			devenv(t, "kill-sandboxer", sig)
			// containerd reaches the pod's tasks without the daemon.
			start(t, later)
			stop(t, stopMe, 10)
			if st := waitExited(t, later); st.ExitCode != 42 {
				t.Fatalf("module that exited while the daemon was down: exit %d, want 42", st.ExitCode)
			}
			devenv(t, "start-sandboxer")

			if ps := afterRestart(t, shared.runtime.PodSandboxStatus, &cri.PodSandboxStatusRequest{PodSandboxId: p.id}); ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
				t.Fatalf("forked pod after restart: %v", ps.Status.State)
			}
			if st := status(t, tick); st.State != cri.ContainerState_CONTAINER_RUNNING {
				t.Fatalf("forked module after the daemon restart: %v", st.State)
			}
			if got := taskPid(t, tick); got != pid {
				t.Fatalf("forked module's pid %d after restart, was %d", got, pid)
			}
			n := ticks(t, tick)
			poll(t, "the re-attached module's log grows", func() bool { return ticks(t, tick) > n })
			if st := status(t, stopMe); st.ExitCode != 143 {
				t.Fatalf("module stopped while the daemon was down: exit %d, want 143", st.ExitCode)
			}
			if st := status(t, later); st.ExitCode != 42 {
				t.Fatalf("exit code after restart: %d, want 42", st.ExitCode)
			}
			if st := waitExited(t, spin); !slices.Contains([]int32{137, 255}, st.ExitCode) {
				t.Fatalf("goroutine-mode module of the stopped daemon: exit %d, want 137 (or 255: CRI's Wait failed)", st.ExitCode)
			}
			stop(t, tick, 10)
			if st := waitExited(t, tick); st.ExitCode != 143 {
				t.Fatalf("re-attached module stopped: exit %d, want 143", st.ExitCode)
			}
			st, lines := runToExit(t, p, container{image: demoImage, args: []string{"echo", "after", "restart"}})
			if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"after restart"}) {
				t.Fatalf("new container in the re-attached pod: exit %d, log %q", st.ExitCode, lines)
			}
		})
	}
}
