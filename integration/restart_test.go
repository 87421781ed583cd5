//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// restartSandboxer restarts the daemon with signal and waits until
// containerd reaches the daemon again for the pod podID.
func restartSandboxer(t *testing.T, signal, podID string) {
	t.Helper()
	devenv(t, "restart-sandboxer", signal)
	afterRestart(t, shared.runtime.PodSandboxStatus, &cri.PodSandboxStatusRequest{PodSandboxId: podID})
}

// afterRestart calls a CRI method the way kubelet's PLEG does: again and
// again. Right after a restart, containerd, or its gRPC connection to the
// daemon (in reconnect backoff), may answer Unavailable; that is retried,
// any other error fails the test.
func afterRestart[Req, Resp any](t *testing.T, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) Resp {
	t.Helper()
	var resp Resp
	poll(t, fmt.Sprintf("an answer other than Unavailable to %T{%v}", req, req), func() bool {
		var err error
		resp, err = call(ctx(t), req)
		if err != nil && grpcstatus.Code(err) != codes.Unavailable {
			t.Fatalf("%T{%v} after restart: %v", req, req, err)
		}
		return err == nil
	})
	return resp
}

// restartKinds are the restarts of the matrix: containerd, the daemon by
// SIGTERM, the daemon by SIGKILL, and both (both down, then the daemon,
// then containerd back).
var restartKinds = []struct {
	name string
	// goroutineExits are the exit codes a running goroutine-mode module
	// may end with, as it ends with the daemon; nil: the daemon stays up.
	// SIGTERM: the daemon answers containerd's Wait with 137. SIGKILL: it
	// cannot; CRI's exit monitor (Wait failed: 255, "unknown") races
	// containerd's dead-shim cleanup (containerd-shim-wasm-v1 delete: 137),
	// so either is right, never 0.
	goroutineExits []int32
	do             func(t *testing.T)
}{
	{"containerd", nil, func(t *testing.T) { devenv(t, "restart-containerd") }},
	{"sandboxer-TERM", []int32{137}, func(t *testing.T) { devenv(t, "restart-sandboxer", "TERM") }},
	{"sandboxer-KILL", []int32{137, 255}, func(t *testing.T) { devenv(t, "restart-sandboxer", "KILL") }},
	{"both", []int32{137, 255}, func(t *testing.T) {
		devenv(t, "stop-containerd")
		devenv(t, "kill-sandboxer", "KILL")
		devenv(t, "start-sandboxer")
		devenv(t, "start-containerd")
	}},
}

// TestRestartMatrix: for each runtime and each restart, a READY pod with
// containers created, running, exited (0 with a log line, and 7) and a
// NOTREADY pod with containers created and exited come back right: pod
// states, container states, exit codes and logs; a running forked module
// runs on (a goroutine-mode one too when only containerd restarted), a
// goroutine-mode one is reported exited, with the restart's exit code,
// when the daemon went down; the created container starts afterwards, and
// a new one runs in the pod; stop and remove work (cleanup).
func TestRestartMatrix(t *testing.T) {
	for _, handler := range handlers {
		for _, rk := range restartKinds {
			t.Run(handler+"/"+rk.name, func(t *testing.T) {
				ready := runPodWith(t, handler)
				created := ready.create(t, container{image: demoImage, args: []string{"echo", "started", "later"}})
				echoed, _ := runToExit(t, ready, container{image: demoImage, args: []string{"echo", "before", "restart"}})
				seven, _ := runToExit(t, ready, container{image: demoImage, args: []string{"exit", "7"}})
				running := ready.running(t, container{image: demoImage, args: []string{"daemon"}})

				notReady := runPodWith(t, handler)
				nrCreated := notReady.create(t, container{image: demoImage, args: []string{"echo"}})
				nrExited, _ := runToExit(t, notReady, container{image: demoImage, args: []string{"exit", "3"}})
				if _, err := shared.runtime.StopPodSandbox(ctx(t), &cri.StopPodSandboxRequest{PodSandboxId: notReady.id}); err != nil {
					t.Fatal(err)
				}

				rk.do(t)

				if ps := afterRestart(t, shared.runtime.PodSandboxStatus, &cri.PodSandboxStatusRequest{PodSandboxId: ready.id}); ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
					t.Fatalf("ready pod after restart: %v", ps.Status.State)
				}
				if ps := afterRestart(t, shared.runtime.PodSandboxStatus, &cri.PodSandboxStatusRequest{PodSandboxId: notReady.id}); ps.Status.State != cri.PodSandboxState_SANDBOX_NOTREADY {
					t.Fatalf("not-ready pod after restart: %v", ps.Status.State)
				}
				statusAfterRestart := func(id string) *cri.ContainerStatus {
					t.Helper()
					return afterRestart(t, shared.runtime.ContainerStatus, &cri.ContainerStatusRequest{ContainerId: id}).Status
				}
				if st := statusAfterRestart(created); st.State != cri.ContainerState_CONTAINER_CREATED {
					t.Fatalf("created container after restart: %v", st.State)
				}
				if st := statusAfterRestart(nrCreated); st.State != cri.ContainerState_CONTAINER_CREATED {
					t.Fatalf("created container of the not-ready pod after restart: %v", st.State)
				}
				for id, code := range map[string]int32{seven.Id: 7, nrExited.Id: 3, echoed.Id: 0} {
					if st := statusAfterRestart(id); st.State != cri.ContainerState_CONTAINER_EXITED || st.ExitCode != code {
						t.Fatalf("exited container after restart: %v, exit %d, want %d", st.State, st.ExitCode, code)
					}
				}
				if lines := streamLines(logs(t, status(t, echoed.Id)), "stdout"); !slices.Equal(lines, []string{"before restart"}) {
					t.Fatalf("log of an exited container after restart: %q", lines)
				}
				if handler == "wasm-forked" || rk.goroutineExits == nil {
					if st := statusAfterRestart(running); st.State != cri.ContainerState_CONTAINER_RUNNING {
						t.Fatalf("running module after restart: %v, exit %d", st.State, st.ExitCode)
					}
					stop(t, running, 10)
					if st := waitExited(t, running); st.ExitCode != 143 {
						t.Fatalf("stopped after restart: exit %d, want 143", st.ExitCode)
					}
				} else if st := waitExited(t, running); !slices.Contains(rk.goroutineExits, st.ExitCode) {
					t.Fatalf("goroutine-mode module of a daemon that went down: exit %d, want one of %v", st.ExitCode, rk.goroutineExits)
				}
				start(t, created)
				if st := waitExited(t, created); st.ExitCode != 0 || !slices.Equal(streamLines(logs(t, st), "stdout"), []string{"started later"}) {
					t.Fatalf("container created before the restart, started after: exit %d", st.ExitCode)
				}
				if st, lines := runToExit(t, ready, container{image: demoImage, args: []string{"echo", "after", "restart"}}); st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"after restart"}) {
					t.Fatalf("new container after restart: exit %d, log %q", st.ExitCode, lines)
				}
				// Stop both pods, explicitly (the cleanups stop them again
				// and remove them).
				for _, p := range []*pod{ready, notReady} {
					if _, err := shared.runtime.StopPodSandbox(ctx(t), &cri.StopPodSandboxRequest{PodSandboxId: p.id}); err != nil {
						t.Fatalf("StopPodSandbox after restart: %v", err)
					}
				}
			})
		}
	}
}
