//go:build integration

package integration

import (
	"slices"
	"strings"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func stop(t *testing.T, id string, timeout int64) {
	t.Helper()
	if _, err := shared.runtime.StopContainer(ctx(t), &cri.StopContainerRequest{ContainerId: id, Timeout: timeout}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
}

// TestStopAndSignals: crictl stop --timeout N sends SIGTERM (the module
// ends at once: 143), --timeout 0 SIGKILL (137); a module sleeping in the
// host ends too; ctr task kill -s SIGINT gives 130; a kill of an exited
// task and a delete of a running one are refused as with runc.
func TestStopAndSignals(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		for _, tc := range []struct {
			c       container
			timeout int64
			want    int32
		}{
			{container{image: tinyImage, command: []string{"/spin.wasm"}}, 30, 143},
			{container{image: tinyImage, command: []string{"/spin.wasm"}}, 0, 137},
			{container{image: demoImage, args: []string{"sleep", "1h"}}, 30, 143},
		} {
			id := p.running(t, tc.c)
			stop(t, id, tc.timeout)
			if st := waitExited(t, id); st.ExitCode != tc.want {
				t.Errorf("%v stopped with timeout %d: exit %d, want %d", tc.c.command, tc.timeout, st.ExitCode, tc.want)
			}
		}
		id := p.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
		if out, err := ctrIn(t, "k8s.io", "", "task", "rm", id); err == nil || !strings.Contains(err.Error(), "must be stopped") {
			t.Fatalf("ctr task rm of a running task: %v %q, want a refusal", err, out)
		}
		if out, err := ctrIn(t, "k8s.io", "", "task", "kill", "-s", "SIGINT", id); err != nil {
			t.Fatalf("ctr task kill -s SIGINT: %v %q", err, out)
		}
		if st := waitExited(t, id); st.ExitCode != 130 {
			t.Fatalf("SIGINT: exit %d, want 130", st.ExitCode)
		}
		if _, err := ctrIn(t, "k8s.io", "", "task", "kill", id); err == nil ||
			!strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "already finished") {
			t.Fatalf("ctr task kill of an exited task: %v, want not found (process already finished)", err)
		}
	})
}

// TestStdin: a CRI container with stdin gets what crictl attach -i sends,
// and EOF when the attach ends (stdinOnce: CRI calls CloseIO); ctr run
// passes its stdin the same way.
func TestStdin(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: demoImage, args: []string{"cat"}, config: func(c *cri.ContainerConfig) {
			c.Stdin, c.StdinOnce = true, true
		}})
		out, err := crictl(t, "to the module's stdin\n", "attach", "-i", id)
		if err != nil {
			t.Fatalf("crictl attach -i: %v, %q", err, out)
		}
		st := waitExited(t, id)
		if got := streamLines(logs(t, st), "stdout"); st.ExitCode != 0 || !slices.Equal(got, []string{"to the module's stdin"}) {
			t.Fatalf("cat: exit %d, log %q", st.ExitCode, got)
		}
	})
	if out, errOut, code := ctrRun(t, "piped through ctr run\n", demoImage, "/demo.wasm", "cat"); code != 0 || out != "piped through ctr run\n" {
		t.Fatalf("ctr run with stdin: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestTerminalRefused: tty: true is refused at start with a clear error.
func TestTerminalRefused(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.create(t, container{image: demoImage, config: func(c *cri.ContainerConfig) { c.Tty, c.Stdin = true, true }})
		if err := startErr(t, id); err == nil || !strings.Contains(err.Error(), "terminal") {
			t.Fatalf("StartContainer with tty: %v, want a refusal naming the terminal", err)
		}
	})
}
