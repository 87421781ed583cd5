package tasktest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execIO is an exec's stdio fifos.
type execIO struct {
	stdin          string
	stdout, stderr *capture
}

func newExecIO(t *testing.T, stdin bool) *execIO {
	t.Helper()
	dir := shortTempDir(t)
	x := &execIO{stdout: newCapture(t, dir, "out"), stderr: newCapture(t, dir, "err")}
	if stdin {
		x.stdin = filepath.Join(dir, "in")
		if err := syscall.Mkfifo(x.stdin, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

// execErr asks for an exec of ps in task id and returns the native error.
func (f *fixture) execErr(id, execID string, ps *specs.Process, io *execIO, terminal bool) error {
	f.t.Helper()
	spec, err := typeurl.MarshalAnyToProto(ps)
	if err != nil {
		f.t.Fatal(err)
	}
	r := &taskapi.ExecProcessRequest{ID: id, ExecID: execID, Spec: spec, Terminal: terminal}
	if io != nil {
		r.Stdin, r.Stdout, r.Stderr = io.stdin, io.stdout.path, io.stderr.path
	}
	_, err = f.client.Exec(f.ctx, r)
	return errgrpc.ToNative(err)
}

func (f *fixture) exec(id, execID string, ps *specs.Process, io *execIO) {
	f.t.Helper()
	if err := f.execErr(id, execID, ps, io, false); err != nil {
		f.t.Fatalf("Exec %s/%s: %v", id, execID, err)
	}
}

func (f *fixture) startExec(id, execID string) {
	f.t.Helper()
	if _, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: id, ExecID: execID}); err != nil {
		f.t.Fatalf("Start %s/%s: %v", id, execID, err)
	}
}

func (f *fixture) waitExec(id, execID string) uint32 {
	f.t.Helper()
	r, err := f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: id, ExecID: execID})
	if err != nil {
		f.t.Fatalf("Wait %s/%s: %v", id, execID, err)
	}
	return r.ExitStatus
}

func (f *fixture) killExec(id, execID string, sig syscall.Signal) error {
	_, err := f.client.Kill(f.ctx, &taskapi.KillRequest{ID: id, ExecID: execID, Signal: uint32(sig)})
	return errgrpc.ToNative(err)
}

func (f *fixture) deleteExec(id, execID string) error {
	_, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id, ExecID: execID})
	return errgrpc.ToNative(err)
}

// demoProc is an OCI process of the demo module with args.
func demoProc(args ...string) *specs.Process {
	return &specs.Process{Args: append([]string{"/demo.wasm"}, args...), Env: []string{"PATH=/bin:/"}, Cwd: "/"}
}

var execCases = []testCase{
	{"exec: a module of the rootfs with its own args, env, cwd and stdio", func(t *testing.T, f *fixture) {
		b := f.running(demoBundle(t, "daemon"), "x")
		if err := os.MkdirAll(filepath.Join(b.rootfs, "work"), 0o755); err != nil {
			t.Fatal(err)
		}
		io := newExecIO(t, false)
		ps := demoProc("args", "a b")
		f.exec("x", "e1", ps, io)
		if st, err := f.client.State(f.ctx, &taskapi.StateRequest{ID: "x", ExecID: "e1"}); err != nil || st.Status != tasktypes.Status_CREATED || st.ExecID != "e1" {
			t.Fatalf("state of a new exec: %v, %v", st, err)
		}
		f.startExec("x", "e1")
		expectCode(t, "exec args", f.waitExec("x", "e1"), 0)
		if got := io.stdout.String(); got != "/demo.wasm\nargs\na b\n" {
			t.Fatalf("exec stdout %q", got)
		}
		if err := f.deleteExec("x", "e1"); err != nil {
			t.Fatalf("delete exec: %v", err)
		}

		io = newExecIO(t, false)
		ps = &specs.Process{Args: []string{"demo.wasm", "env"}, Env: []string{"PATH=/", "ONLY_IN_EXEC=1"}, Cwd: "/work"}
		f.exec("x", "e2", ps, io)
		f.startExec("x", "e2")
		expectCode(t, "exec env", f.waitExec("x", "e2"), 0)
		if got := io.stdout.String(); !strings.Contains(got, "ONLY_IN_EXEC=1\n") || !strings.Contains(got, "PWD=/work\n") {
			t.Fatalf("exec env (argv[0] through PATH, cwd /work): %q", got)
		}

		f.exec("x", "e3", demoProc("exit", "7"), nil)
		f.startExec("x", "e3")
		expectCode(t, "exec exit 7", f.waitExec("x", "e3"), 7)
		if st := f.state("x").Status; st != tasktypes.Status_RUNNING {
			t.Fatalf("the container's own module is %v after execs, want RUNNING", st)
		}
	}},
	{"exec: errors name what is wrong", func(t *testing.T, f *fixture) {
		b := f.running(demoBundle(t, "daemon"), "xe")
		writeFile(t, filepath.Join(b.rootfs, "notes.txt"), []byte("just text"), 0o755)
		check(t, "not a module", f.execErr("xe", "n1", &specs.Process{Args: []string{"/notes.txt"}, Cwd: "/"}, nil, false),
			errdefs.IsInvalidArgument, "not a WebAssembly module")
		check(t, "missing", f.execErr("xe", "n2", &specs.Process{Args: []string{"/nope.wasm"}, Cwd: "/"}, nil, false),
			errdefs.IsNotFound, "/nope.wasm")
		check(t, "terminal", f.execErr("xe", "n3", demoProc("echo"), nil, true), errdefs.IsNotImplemented, "terminal")
		check(t, "no args", f.execErr("xe", "n4", &specs.Process{Cwd: "/"}, nil, false), errdefs.IsInvalidArgument, "process.args")
		check(t, "unknown task", f.execErr("nope", "n5", demoProc("echo"), nil, false), errdefs.IsNotFound, "nope")
		f.exec("xe", "dup", demoProc("echo"), nil)
		check(t, "duplicate exec id", f.execErr("xe", "dup", demoProc("echo"), nil, false), errdefs.IsAlreadyExists, "dup")
		_, err := f.client.Exec(f.ctx, &taskapi.ExecProcessRequest{ID: "xe", ExecID: "n6"})
		check(t, "no spec", errgrpc.ToNative(err), errdefs.IsInvalidArgument, "spec")
		for _, call := range []string{"State", "Wait", "Kill", "Delete"} {
			var err error
			switch call {
			case "State":
				_, err = f.client.State(f.ctx, &taskapi.StateRequest{ID: "xe", ExecID: "ghost"})
				err = errgrpc.ToNative(err)
			case "Wait":
				_, err = f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: "xe", ExecID: "ghost"})
				err = errgrpc.ToNative(err)
			case "Kill":
				err = f.killExec("xe", "ghost", syscall.SIGKILL)
			case "Delete":
				err = f.deleteExec("xe", "ghost")
			}
			check(t, call+" of an unknown exec", err, errdefs.IsNotFound, "ghost")
		}
	}},
	{"exec: stdin, CloseIO, signals, and kill/delete answered as runc's shim does", func(t *testing.T, f *fixture) {
		f.running(demoBundle(t, "daemon"), "xs")
		io := newExecIO(t, true)
		f.exec("xs", "cat", demoProc("cat"), io)
		f.startExec("xs", "cat")
		w := openWriter(t, io.stdin)
		if _, err := w.Write([]byte("to the exec\n")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if _, err := f.client.CloseIO(f.ctx, &taskapi.CloseIORequest{ID: "xs", ExecID: "cat", Stdin: true}); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "exec cat", f.waitExec("xs", "cat"), 0)
		if got := io.stdout.String(); got != "to the exec\n" {
			t.Fatalf("exec stdout %q", got)
		}

		f.exec("xs", "spin", &specs.Process{Args: []string{"/spin.wasm"}, Cwd: "/"}, nil)
		if err := f.killExec("xs", "spin", syscall.SIGTERM); !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("kill of an exec not started: %v, want FailedPrecondition (runc: process not created)", err)
		}
		f.startExec("xs", "spin")
		if err := f.deleteExec("xs", "spin"); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "running") {
			t.Fatalf("delete of a running exec: %v, want FailedPrecondition", err)
		}
		if err := f.killExec("xs", "spin", syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "exec SIGINT", f.waitExec("xs", "spin"), 130)
		if err := f.killExec("xs", "spin", syscall.SIGKILL); !errdefs.IsNotFound(err) {
			t.Fatalf("kill of an exited exec: %v, want NotFound (process already finished)", err)
		}
		if err := f.deleteExec("xs", "spin"); err != nil {
			t.Fatal(err)
		}
		if st := f.state("xs").Status; st != tasktypes.Status_RUNNING {
			t.Fatalf("container %v after its exec was killed, want RUNNING", st)
		}
	}},
	{"exec: ends with its container; execs of an exited task are refused", func(t *testing.T, f *fixture) {
		f.running(demoBundle(t, "daemon"), "xc")
		f.exec("xc", "spin", &specs.Process{Args: []string{"/spin.wasm"}, Cwd: "/"}, nil)
		f.startExec("xc", "spin")
		if err := f.kill("xc", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "container", f.wait("xc"), 137)
		expectCode(t, "exec of a killed container", f.waitExec("xc", "spin"), 137)
		if err := f.execErr("xc", "late", demoProc("echo"), nil, false); !errdefs.IsFailedPrecondition(err) {
			t.Fatalf("exec in an exited task: %v, want FailedPrecondition", err)
		}
		f.delete("xc")
	}},
	{"exec: events with the container and exec ids", func(t *testing.T, f *fixture) {
		f.running(demoBundle(t, "daemon"), "xv")
		f.exec("xv", "ev", demoProc("exit", "3"), nil)
		f.startExec("xv", "ev")
		f.waitExec("xv", "ev")
		want := []string{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"}
		if got := f.events.topics(len(want)); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("events %v, want %v", got, want)
		}
		for _, e := range f.events.snapshot() {
			var cid, xid string
			switch e := e.event.(type) {
			case *eventstypes.TaskExecAdded:
				cid, xid = e.ContainerID, e.ExecID
			case *eventstypes.TaskExecStarted:
				cid, xid = e.ContainerID, e.ExecID
				if e.Pid == 0 {
					t.Errorf("exec-started without a pid")
				}
			case *eventstypes.TaskExit:
				cid, xid = e.ContainerID, e.ID
				if e.ExitStatus != 3 {
					t.Errorf("exec exit event status %d, want 3", e.ExitStatus)
				}
			default:
				continue
			}
			if cid != "xv" || xid != "ev" {
				t.Errorf("%s: container %q exec %q, want xv/ev", e.topic, cid, xid)
			}
		}
	}},
}

// marshalResources is an UpdateTaskRequest's resources, as containerd
// sends them.
func marshalResources(t *testing.T, r *specs.LinuxResources) *taskapi.UpdateTaskRequest {
	t.Helper()
	a, err := typeurl.MarshalAnyToProto(r)
	if err != nil {
		t.Fatal(err)
	}
	var check specs.LinuxResources
	if err := json.Unmarshal(a.GetValue(), &check); err != nil {
		t.Fatalf("resources are not JSON in the Any: %v", err)
	}
	return &taskapi.UpdateTaskRequest{Resources: a}
}
