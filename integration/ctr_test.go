//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// ctrRun runs `ctr run --rm --runtime io.containerd.wasm.v1 IMAGE ID ARGS…`
// in namespace "default" with stdin as input and returns its stdout, its
// stderr (when it failed) and its exit status.
func ctrRun(t *testing.T, stdin, image string, args ...string) (string, string, int) {
	t.Helper()
	return ctrRunID(t, fmt.Sprintf("ctr-%d", seq.Add(1)), stdin, image, args...)
}

// ctrRunID is ctrRun of container id.
func ctrRunID(t *testing.T, id, stdin, image string, args ...string) (string, string, int) {
	t.Helper()
	out, err := ctrIn(t, "default", stdin, append([]string{"run", "--rm",
		"--fifo-dir", filepath.Join(shared.dir, "fifo"), "--runtime", "io.containerd.wasm.v1", image, id}, args...)...)
	if err == nil {
		return out, "", 0
	}
	var ce *cmdError
	var ee *exec.ExitError
	if !errors.As(err, &ce) || !errors.As(err, &ee) {
		t.Fatalf("ctr run: %v", err)
	}
	return out, ce.stderr, ee.ExitCode()
}

func TestCtrRunRootfsImage(t *testing.T) {
	out, errOut, code := ctrRun(t, "", demoImage, "/demo.wasm", "echo", "hi")
	if code != 0 || out != "hi\n" {
		t.Fatalf("ctr run echo hi: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, code := ctrRun(t, "", demoImage, "/demo.wasm", "exit", "7"); code != 7 {
		t.Fatalf("ctr run exit 7: exit status %d, want 7", code)
	}
	if out, _, code := ctrRun(t, "", helloImage); code != 0 || out != "hello from wasm\n" {
		t.Fatalf("ctr run of the image's own entrypoint: exit %d, stdout %q", code, out)
	}
	// --rm leaves no container, and the sandbox made for each is gone.
	list, err := ctrIn(t, "default", "", "containers", "ls", "-q")
	if err != nil || strings.TrimSpace(list) != "" {
		t.Fatalf("containers left after --rm: %q, %v", list, err)
	}
	if n := sandboxStateFiles(t); n != 0 {
		t.Fatalf("%d sandbox state files left after ctr run --rm", n)
	}
}

// sandboxStateFiles counts the task-owned sandboxes the daemon persists
// (CRI pods of other tests are cleaned up by then).
func sandboxStateFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shared.dir, "sandboxer", "sandboxes", "ctr-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// TestCtrRunDaemonNotRunning: with the daemon down, ctr run fails at once
// and says how to start it.
func TestCtrRunDaemonNotRunning(t *testing.T) {
	devenv(t, "stop-sandboxer")
	t.Cleanup(func() { devenv(t, "start-sandboxer") })
	_, errOut, code := ctrRun(t, "", demoImage, "/demo.wasm", "echo", "hi")
	if code == 0 {
		t.Fatal("ctr run succeeded with the daemon down")
	}
	for _, want := range []string{"wasm-sandboxer is not running", "start it with"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("ctr's error %q lacks %q", errOut, want)
		}
	}
}

// TestCtrTaskSurvivesContainerdRestart: containerd reloads a running ctr
// task after its own restart (the runtime binary resolves, the task's
// endpoint is the daemon's) and can still kill and delete it.
func TestCtrTaskSurvivesContainerdRestart(t *testing.T) {
	id := fmt.Sprintf("ctr-keep-%d", seq.Add(1))
	if out, err := ctrIn(t, "default", "", "run", "-d", "--null-io", "--runtime", "io.containerd.wasm.v1", demoImage, id, "/demo.wasm", "daemon"); err != nil {
		t.Fatalf("ctr run -d: %v\n%s", err, out)
	}
	devenv(t, "restart-containerd")
	out, err := ctrIn(t, "default", "", "task", "ls")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "RUNNING") {
		t.Fatalf("task after containerd restart: %v\n%s", err, out)
	}
	if out, err := ctrIn(t, "default", "", "task", "kill", "-s", "SIGKILL", id); err != nil {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	// ctr task rm waits for nothing: poll until the task has stopped.
	poll(t, "ctr task ls shows the killed task STOPPED", func() bool {
		out, _ := ctrIn(t, "default", "", "task", "ls")
		return strings.Contains(out, "STOPPED")
	})
	if out, err := ctrIn(t, "default", "", "task", "rm", id); err != nil {
		t.Fatalf("task rm: %v\n%s", err, out)
	}
	if out, err := ctrIn(t, "default", "", "containers", "rm", id); err != nil {
		t.Fatalf("container rm: %v\n%s", err, out)
	}
	if n := sandboxStateFiles(t); n != 0 {
		t.Fatalf("%d ctr sandboxes left after task rm", n)
	}
}

// TestCtrContainerJoinsCRIPod: a ctr container carrying CRI's sandbox-id
// annotation for a pod the daemon runs joins that pod instead of getting a
// sandbox of its own.
func TestCtrContainerJoinsCRIPod(t *testing.T) {
	p := runPod(t)
	conn, err := grpc.NewClient("unix://"+filepath.Join(shared.dir, "sandboxer.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl := sandboxapi.NewControllerClient(conn)
	tasksOf := func() string {
		st, err := ctrl.Status(namespaces.WithNamespace(ctx(t), "k8s.io"), &sandboxapi.ControllerStatusRequest{SandboxID: p.id, Verbose: true})
		if err != nil {
			t.Fatalf("controller status: %v", err)
		}
		return st.Info["tasks"]
	}
	if n := tasksOf(); n != "0" {
		t.Fatalf("pod has %s tasks before the ctr container", n)
	}
	id := fmt.Sprintf("ctr-join-%d", seq.Add(1))
	out, err := ctrIn(t, "k8s.io", "", "run", "-d", "--null-io",
		"--annotation", "io.kubernetes.cri.sandbox-id="+p.id, "--runtime", "io.containerd.wasm.v1", tinyImage, id, "/spin.wasm")
	if err != nil {
		t.Fatalf("ctr run -d: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctrIn(t, "k8s.io", "", "task", "kill", "-s", "SIGKILL", id)
		if _, err := ctrIn(t, "k8s.io", "", "task", "rm", "-f", id); err != nil {
			t.Errorf("ctr task rm -f: %v", err)
		}
		if _, err := ctrIn(t, "k8s.io", "", "containers", "rm", id); err != nil {
			t.Errorf("ctr containers rm: %v", err)
		}
	})
	if n := tasksOf(); n != "1" {
		t.Fatalf("pod has %s tasks, want the ctr container's 1", n)
	}
	if files, _ := filepath.Glob(filepath.Join(shared.dir, "sandboxer", "sandboxes", id+".json")); len(files) != 0 {
		t.Fatal("the ctr container got a sandbox of its own")
	}
}
