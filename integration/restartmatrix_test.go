//go:build integration

package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

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
