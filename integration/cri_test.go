//go:build integration

package integration

import (
	"slices"
	"strings"
	"sync"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	helloImage = "docker.io/library/wasm-hello:latest"
	demoImage  = "docker.io/library/wasm-demo:latest"
	tinyImage  = "docker.io/library/wasm-tiny:latest"
)

// runToExit creates and starts c in p and waits for it to exit.
func runToExit(t *testing.T, p *pod, c container) (*cri.ContainerStatus, []logLine) {
	t.Helper()
	id := p.create(t, c)
	start(t, id)
	st := waitExited(t, id)
	return st, logs(t, st)
}

func TestHelloPodNetwork(t *testing.T) {
	p := runPod(t)
	st, lines := runToExit(t, p, container{image: helloImage})
	if st.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0", st.ExitCode)
	}
	if got := streamLines(lines, "stdout"); !slices.Equal(got, []string{"hello from wasm"}) {
		t.Fatalf("stdout %q, want [hello from wasm]", got)
	}
	ps, err := shared.runtime.PodSandboxStatus(ctx(t), &cri.PodSandboxStatusRequest{PodSandboxId: p.id})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
		t.Fatalf("pod state %v, want ready", ps.Status.State)
	}
	if ip := ps.Status.GetNetwork().GetIp(); ip == "" {
		t.Fatalf("pod on the pod network has no IP: CNI did not run")
	}
}

func TestHelloHostNetwork(t *testing.T) {
	p := runPod(t, hostNetwork)
	st, lines := runToExit(t, p, container{image: helloImage})
	if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"hello from wasm"}) {
		t.Fatalf("exit %d, log %q", st.ExitCode, lines)
	}
}

func TestStdoutAndStderr(t *testing.T) {
	p := runPod(t)
	_, out := runToExit(t, p, container{image: demoImage, args: []string{"echo", "to", "stdout"}})
	if got := streamLines(out, "stdout"); !slices.Equal(got, []string{"to stdout"}) {
		t.Errorf("stdout %q", got)
	}
	_, errl := runToExit(t, p, container{image: demoImage, args: []string{"stderr", "to stderr"}})
	if got := streamLines(errl, "stderr"); !slices.Equal(got, []string{"to stderr"}) {
		t.Errorf("stderr %q", got)
	}
	if got := streamLines(errl, "stdout"); len(got) != 0 {
		t.Errorf("stderr output leaked to stdout: %q", got)
	}
}

func TestArgsAndEnv(t *testing.T) {
	p := runPod(t)
	_, lines := runToExit(t, p, container{image: demoImage, args: []string{"args", "a b", "--flag=1"}})
	got := streamLines(lines, "stdout")
	// argv[0] is the module's path, as a native process sees its own.
	if len(got) != 4 || !strings.HasSuffix(got[0], "demo.wasm") || got[1] != "args" || got[2] != "a b" || got[3] != "--flag=1" {
		t.Errorf("argv %q", got)
	}
	_, lines = runToExit(t, p, container{image: demoImage, args: []string{"env"}, env: map[string]string{"GREETING": "hi there", "EMPTY": ""}})
	env := streamLines(lines, "stdout")
	for _, want := range []string{"GREETING=hi there", "EMPTY="} {
		if !slices.Contains(env, want) {
			t.Errorf("env %q lacks %q", env, want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	p := runPod(t)
	for _, tc := range []struct {
		name string
		c    container
		want int32
	}{
		{"return from _start", container{image: helloImage}, 0},
		{"proc_exit 0", container{image: demoImage, args: []string{"exit", "0"}}, 0},
		{"proc_exit 42 (Go)", container{image: demoImage, args: []string{"exit", "42"}}, 42},
		{"proc_exit 42 (tiny)", container{image: tinyImage, command: []string{"/exit42.wasm"}}, 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := runToExit(t, p, tc.c)
			if st.ExitCode != tc.want {
				t.Fatalf("exit code %d, want %d", st.ExitCode, tc.want)
			}
		})
	}
}

func TestTrap(t *testing.T) {
	p := runPod(t)
	st, _ := runToExit(t, p, container{image: tinyImage, command: []string{"/trap.wasm"}})
	if st.ExitCode != 134 {
		t.Fatalf("trap: exit code %d, want 134 (128+SIGABRT)", st.ExitCode)
	}
	if st.Reason != "Error" {
		t.Errorf("reason %q, want Error", st.Reason)
	}
}

// TestSpinUntilStopped: a module that never yields is ended by
// StopContainer's SIGTERM (WASI has no signals: the module is closed).
func TestSpinUntilStopped(t *testing.T) {
	id := runPod(t).running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
	stop(t, id, 10)
	st := waitExited(t, id)
	if st.ExitCode != 143 {
		t.Fatalf("exit code %d, want 143 (128+SIGTERM)", st.ExitCode)
	}
}

func TestTwoPodsAtOnce(t *testing.T) {
	pods := []*pod{runPod(t), runPod(t, hostNetwork)}
	ids := make([]string, len(pods))
	for i, p := range pods {
		ids[i] = p.create(t, container{image: demoImage, args: []string{"echo", "pod", string(rune('A' + i))}})
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); start(t, id) }()
	}
	wg.Wait()
	for i, id := range ids {
		st := waitExited(t, id)
		want := "pod " + string(rune('A'+i))
		if got := streamLines(logs(t, st), "stdout"); st.ExitCode != 0 || !slices.Equal(got, []string{want}) {
			t.Errorf("pod %d: exit %d, stdout %q, want %q", i, st.ExitCode, got, want)
		}
	}
}

// startErr starts id and returns StartContainer's error; a container whose
// start failed must be reported as exited, never running.
func startErr(t *testing.T, id string) error {
	t.Helper()
	_, err := shared.runtime.StartContainer(ctx(t), &cri.StartContainerRequest{ContainerId: id})
	if err != nil {
		if st := status(t, id); st.State == cri.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("container %s reported running after its start failed (%v)", id, err)
		}
	}
	return err
}

// startError creates c in a new pod and returns StartContainer's error.
func startError(t *testing.T, c container) error {
	t.Helper()
	err := startErr(t, runPod(t).create(t, c))
	if err == nil {
		t.Fatalf("StartContainer succeeded, want an error")
	}
	return err
}

func TestMissingModule(t *testing.T) {
	err := startError(t, container{image: tinyImage, command: []string{"/nope.wasm"}})
	if !strings.Contains(err.Error(), "/nope.wasm") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("error %q does not name the missing module", err)
	}
}

func TestNotWasm(t *testing.T) {
	err := startError(t, container{image: tinyImage, command: []string{"/not-wasm.wasm"}})
	if !strings.Contains(err.Error(), "not a WebAssembly module") {
		t.Fatalf("error %q does not say the file is not Wasm", err)
	}
}
