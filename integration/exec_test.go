//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// handlers are the two runtimes, as RuntimeClass handlers.
var handlers = []string{"wasm", "wasm-forked"}

// forEachRuntime runs fn in a subtest per runtime, with a pod of it.
func forEachRuntime(t *testing.T, fn func(t *testing.T, p *pod)) {
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) { fn(t, runPodWith(t, h)) })
	}
}

// running creates and starts c and waits until it runs.
func (p *pod) running(t *testing.T, c container) string {
	t.Helper()
	id := p.create(t, c)
	start(t, id)
	waitRunning(t, id)
	return id
}

func execSync(t *testing.T, id string, timeout int64, cmd ...string) (*cri.ExecSyncResponse, error) {
	t.Helper()
	return shared.runtime.ExecSync(ctx(t), &cri.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: timeout})
}

// crictl runs crictl against the test containerd with stdin as input;
// it returns stdout, and stderr in the error.
func crictl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return runCmd(stdin, filepath.Join(shared.out, "bin", "crictl"),
		append([]string{"--runtime-endpoint", "unix://" + shared.sock(), "--image-endpoint", "unix://" + shared.sock(), "--timeout", "30s"}, args...)...)
}

// ctrIn runs ctr in namespace ns (k8s.io: CRI's) with stdin as input; it
// returns stdout, and stderr in the error.
func ctrIn(t *testing.T, ns, stdin string, args ...string) (string, error) {
	t.Helper()
	return shared.ctr(ns, stdin, args...)
}

// cmdError is a command's failure with its stderr.
type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return fmt.Sprintf("%v: %s", e.err, e.stderr) }
func (e *cmdError) Unwrap() error { return e.err }

func runCmd(stdin, bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), &cmdError{err: err, stderr: errOut.String()}
	}
	return out.String(), nil
}

// TestExecCRI: ExecSync (crictl exec) runs another module of the rootfs
// with its own args, gets its output and exit code, times out, and says
// clearly when the command is not a module; crictl exec -i feeds stdin.
func TestExecCRI(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})
		r, err := execSync(t, id, 0, "/hello.wasm")
		if err != nil || r.ExitCode != 0 || string(r.Stdout) != "hello from wasm\n" {
			t.Fatalf("exec hello: %v, %+v", err, r)
		}
		r, err = execSync(t, id, 0, "exit42.wasm")
		if err != nil || r.ExitCode != 42 {
			t.Fatalf("exec exit42 (argv[0] through PATH or cwd): %v, %+v", err, r)
		}
		_, err = execSync(t, id, 0, "/not-wasm.wasm")
		if err == nil || !strings.Contains(err.Error(), "not a WebAssembly module") {
			t.Fatalf("exec of a text file: %v, want an error saying it is not a module", err)
		}
		_, err = execSync(t, id, 1, "/spin.wasm")
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("exec with a 1 s timeout of a spinning module: %v, want a timeout", err)
		}
		if st := status(t, id); st.State != cri.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("container %v after its execs, want running", st.State)
		}

		demo := p.running(t, container{image: demoImage, args: []string{"daemon"}})
		r, err = execSync(t, demo, 0, "/demo.wasm", "args", "x y")
		if err != nil || string(r.Stdout) != "/demo.wasm\nargs\nx y\n" {
			t.Fatalf("exec args: %v, %+v", err, r)
		}
		out, err := crictl(t, "through crictl exec -i\n", "exec", "-i", demo, "/demo.wasm", "cat")
		if err != nil || out != "through crictl exec -i\n" {
			t.Fatalf("crictl exec -i cat: %v, %q", err, out)
		}
	})
}

// TestExecCtr: `ctr task exec` runs a module in a running container, its
// output and exit status are ctr's.
func TestExecCtr(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: demoImage, args: []string{"daemon"}})
		out, err := ctrIn(t, "k8s.io", "", "task", "exec", "--exec-id", fmt.Sprintf("ctr-exec-%d", seq.Add(1)), id, "/demo.wasm", "echo", "from", "ctr", "exec")
		if err != nil || out != "from ctr exec\n" {
			t.Fatalf("ctr task exec: %v, %q", err, out)
		}
		out, err = ctrIn(t, "k8s.io", "", "task", "exec", "--exec-id", fmt.Sprintf("ctr-exec-%d", seq.Add(1)), id, "/demo.wasm", "exit", "9")
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 9 {
			t.Fatalf("ctr task exec exit 9: %v, %q", err, out)
		}
	})
}
