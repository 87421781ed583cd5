//go:build integration

package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// restartSandboxer restarts the daemon with signal and, when podID is set,
// waits until containerd reaches the daemon again for that pod.
func restartSandboxer(t *testing.T, signal, podID string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(), "hack", "devenv.sh"), "restart-sandboxer", shared.dir, signal).CombinedOutput()
	if err != nil {
		t.Fatalf("restart wasm-sandboxer: %v\n%s", err, out)
	}
	if podID != "" {
		if _, err := podStatusAfterRestart(t, podID); err != nil {
			t.Fatalf("containerd does not reach the restarted daemon: %v", err)
		}
	}
}

// TestSandboxerRestart: after the daemon restarts (SIGTERM, then SIGKILL),
// the pod is still ready, a module that was running is reported exited
// (goroutine-mode modules end with the daemon), the exited container keeps
// its exit code and log, and new containers start in the same pod.
func TestSandboxerRestart(t *testing.T) {
	for _, sig := range []string{"TERM", "KILL"} {
		t.Run(sig, func(t *testing.T) {
			p := runPod(t)
			doneID := p.create(t, container{image: demoImage, args: []string{"exit", "7"}})
			start(t, doneID)
			waitExited(t, doneID)
			spinID := p.create(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
			start(t, spinID)
			waitRunning(t, spinID)

			restartSandboxer(t, sig, "")

			ps, err := podStatusAfterRestart(t, p.id)
			if err != nil || ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
				t.Fatalf("pod after restart: %v, %v", ps.GetStatus().GetState(), err)
			}
			// SIGTERM: the daemon answers containerd's Wait with 137. SIGKILL:
			// it cannot; CRI's exit monitor (Wait failed: 255, "unknown")
			// races containerd's dead-shim cleanup (containerd-shim-wasm-v1
			// delete: 137), so either is right, never 0.
			st := waitExited(t, spinID)
			if want := []int32{137}; sig == "KILL" && !slices.Contains([]int32{137, 255}, st.ExitCode) || sig == "TERM" && !slices.Contains(want, st.ExitCode) {
				t.Fatalf("module that died with the daemon (SIG%s): exit %d", sig, st.ExitCode)
			}
			if st := status(t, doneID); st.ExitCode != 7 {
				t.Fatalf("exited container's code after restart: %d, want 7", st.ExitCode)
			}
			st, lines := runToExit(t, p, container{image: demoImage, args: []string{"echo", "after", "restart"}})
			if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"after restart"}) {
				t.Fatalf("new container after restart: exit %d, log %q", st.ExitCode, lines)
			}
		})
	}
}

// podStatusAfterRestart asks for the pod's status the way kubelet's PLEG
// does: again and again. Right after the daemon comes back, containerd's
// gRPC connection to it may still be in reconnect backoff and answer
// Unavailable; that is retried, for at most 30 seconds.
func podStatusAfterRestart(t *testing.T, id string) (*cri.PodSandboxStatusResponse, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ps, err := shared.runtime.PodSandboxStatus(ctx(t), &cri.PodSandboxStatusRequest{PodSandboxId: id})
		if grpcstatus.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return ps, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restartKinds are the restarts of the matrix: containerd, the daemon by
// SIGTERM, the daemon by SIGKILL, and both (both down, then the daemon,
// then containerd back).
var restartKinds = []struct {
	name string
	// daemonDies: goroutine-mode modules end with it.
	daemonDies bool
	do         func(t *testing.T)
}{
	{"containerd", false, func(t *testing.T) { devenv(t, "restart-containerd") }},
	{"sandboxer-TERM", true, func(t *testing.T) { devenv(t, "restart-sandboxer", "TERM") }},
	{"sandboxer-KILL", true, func(t *testing.T) { devenv(t, "restart-sandboxer", "KILL") }},
	{"both", true, func(t *testing.T) {
		devenv(t, "stop-containerd")
		devenv(t, "kill-sandboxer", "KILL")
		devenv(t, "start-sandboxer")
		devenv(t, "start-containerd")
	}},
}

// containerStatusAfterRestart retries while containerd or the daemon is
// still coming back (Unavailable), as kubelet's PLEG would.
func containerStatusAfterRestart(t *testing.T, id string) *cri.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := shared.runtime.ContainerStatus(ctx(t), &cri.ContainerStatusRequest{ContainerId: id})
		if err == nil {
			return resp.Status
		}
		if grpcstatus.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			t.Fatalf("ContainerStatus %s after restart: %v", id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRestartMatrix: for each runtime and each restart, a READY pod with
// containers created, running, exited (0 with a log line, and 7) and a
// NOTREADY pod with containers created and exited come back right: pod
// states, container states, exit codes and logs; a running forked module
// runs on (a goroutine-mode one too when only containerd restarted), a
// goroutine-mode one is reported exited when the daemon went down; the
// created container starts afterwards; stop and remove work (cleanup).
func TestRestartMatrix(t *testing.T) {
	states := 0
	for _, handler := range []string{"wasm", "wasm-forked"} {
		for _, rk := range restartKinds {
			t.Run(handler+"/"+rk.name, func(t *testing.T) {
				ready := runPodWith(t, handler)
				created := ready.create(t, container{image: demoImage, args: []string{"echo", "started", "later"}})
				running := ready.create(t, container{image: demoImage, args: []string{"daemon"}})
				echoed, _ := runToExit(t, ready, container{image: demoImage, args: []string{"echo", "before", "restart"}})
				seven, _ := runToExit(t, ready, container{image: demoImage, args: []string{"exit", "7"}})
				start(t, running)
				waitRunning(t, running)

				notReady := runPodWith(t, handler)
				nrCreated := notReady.create(t, container{image: demoImage, args: []string{"echo"}})
				nrExited, _ := runToExit(t, notReady, container{image: demoImage, args: []string{"exit", "3"}})
				if _, err := shared.runtime.StopPodSandbox(ctx(t), &cri.StopPodSandboxRequest{PodSandboxId: notReady.id}); err != nil {
					t.Fatal(err)
				}

				rk.do(t)

				ps, err := podStatusAfterRestart(t, ready.id)
				if err != nil || ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
					t.Fatalf("ready pod after restart: %v, %v", ps.GetStatus().GetState(), err)
				}
				ps, err = podStatusAfterRestart(t, notReady.id)
				if err != nil || ps.Status.State != cri.PodSandboxState_SANDBOX_NOTREADY {
					t.Fatalf("not-ready pod after restart: %v, %v", ps.GetStatus().GetState(), err)
				}
				if st := containerStatusAfterRestart(t, created); st.State != cri.ContainerState_CONTAINER_CREATED {
					t.Fatalf("created container after restart: %v", st.State)
				}
				if st := containerStatusAfterRestart(t, nrCreated); st.State != cri.ContainerState_CONTAINER_CREATED {
					t.Fatalf("created container of the not-ready pod after restart: %v", st.State)
				}
				for id, code := range map[string]int32{seven.Id: 7, nrExited.Id: 3, echoed.Id: 0} {
					if st := containerStatusAfterRestart(t, id); st.State != cri.ContainerState_CONTAINER_EXITED || st.ExitCode != code {
						t.Fatalf("exited container after restart: %v, exit %d, want %d", st.State, st.ExitCode, code)
					}
				}
				if lines := streamLines(logs(t, status(t, echoed.Id)), "stdout"); !slices.Equal(lines, []string{"before restart"}) {
					t.Fatalf("log of an exited container after restart: %q", lines)
				}
				survives := handler == "wasm-forked" || !rk.daemonDies
				if survives {
					if st := containerStatusAfterRestart(t, running); st.State != cri.ContainerState_CONTAINER_RUNNING {
						t.Fatalf("running module after restart: %v, exit %d", st.State, st.ExitCode)
					}
					if _, err := shared.runtime.StopContainer(ctx(t), &cri.StopContainerRequest{ContainerId: running, Timeout: 10}); err != nil {
						t.Fatalf("stop the module that ran through the restart: %v", err)
					}
					if st := waitExited(t, running); st.ExitCode != 143 {
						t.Fatalf("stopped after restart: exit %d, want 143", st.ExitCode)
					}
				} else if st := waitExited(t, running); !slices.Contains([]int32{137, 255}, st.ExitCode) {
					t.Fatalf("goroutine-mode module of a daemon that went down: exit %d, want 137 (or 255)", st.ExitCode)
				}
				start(t, created)
				if st := waitExited(t, created); st.ExitCode != 0 || !slices.Equal(streamLines(logs(t, st), "stdout"), []string{"started later"}) {
					t.Fatalf("container created before the restart, started after: exit %d", st.ExitCode)
				}
				// Stop and remove, explicitly (the cleanups do it again).
				c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				for _, p := range []*pod{ready, notReady} {
					if _, err := shared.runtime.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
						t.Fatalf("StopPodSandbox after restart: %v", err)
					}
				}
				states += 8 // 2 pod states + 6 container states checked
			})
		}
	}
	t.Logf("restart matrix: %d states checked over %d runtimes × %d restarts", states, 2, len(restartKinds))
}
