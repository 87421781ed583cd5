package tasktest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/deletemark"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Capabilities are what a runtime declares beyond the contract's core
// (runtime.Pauser, runtime.Stater): the table asserts each both ways, so a
// runtime that loses one fails, and one that claims what it lacks fails.
type Capabilities struct {
	// Pause: Pause and Resume freeze and thaw a running module; without
	// it they answer NotImplemented, saying what would work.
	Pause bool
	// Stats: Stats answers cgroup Metrics; without it, NotImplemented.
	Stats bool
}

// Run runs the whole conformance table against the runtime newRuntime
// returns, which declares caps. Every case gets its own runtime and task
// service.
func Run(t *testing.T, caps Capabilities, newRuntime NewRuntime) {
	for _, c := range slices.Concat(cases, execCases, resourceCases, eventCases, badInputCases, serveCases, wasiCases) {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, newRuntime)
			f.caps = caps
			c.run(t, f)
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// helpers over the ttrpc client; each fails the test on error.

func (f *fixture) create(b *bundle, id string) {
	f.t.Helper()
	b.writeSpec(f.t)
	if _, err := f.client.Create(f.ctx, b.createRequest(id)); err != nil {
		f.t.Fatalf("Create %s: %v", id, err)
	}
}

func (f *fixture) start(id string) {
	f.t.Helper()
	if _, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: id}); err != nil {
		f.t.Fatalf("Start %s: %v", id, err)
	}
}

func (f *fixture) wait(id string) uint32 {
	f.t.Helper()
	r, err := f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: id})
	if err != nil {
		f.t.Fatalf("Wait %s: %v", id, err)
	}
	if r.ExitedAt == nil || r.ExitedAt.AsTime().IsZero() {
		f.t.Errorf("Wait %s: no exit time", id)
	}
	return r.ExitStatus
}

func (f *fixture) kill(id string, sig syscall.Signal) error {
	_, err := f.client.Kill(f.ctx, &taskapi.KillRequest{ID: id, Signal: uint32(sig)})
	return errgrpc.ToNative(err)
}

func (f *fixture) state(id string) *taskapi.StateResponse {
	f.t.Helper()
	r, err := f.client.State(f.ctx, &taskapi.StateRequest{ID: id})
	if err != nil {
		f.t.Fatalf("State %s: %v", id, err)
	}
	return r
}

func (f *fixture) delete(id string) *taskapi.DeleteResponse {
	f.t.Helper()
	r, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id})
	if err != nil {
		f.t.Fatalf("Delete %s: %v", id, err)
	}
	return r
}

// run creates, starts, waits for and deletes a task; it returns the exit
// status.
func (f *fixture) run(b *bundle, id string) uint32 {
	f.t.Helper()
	b.writeSpec(f.t)
	w, err := lifecycle(f.ctx, f.client, b.createRequest(id))
	if err != nil {
		f.t.Fatal(err)
	}
	if w.ExitedAt == nil || w.ExitedAt.AsTime().IsZero() {
		f.t.Errorf("Wait %s: no exit time", id)
	}
	return w.ExitStatus
}

// createErr returns the native error of a Create expected to fail.
func (f *fixture) createErr(b *bundle, id string) error {
	f.t.Helper()
	err := f.createDoc(f.t, b, "", id)
	if err == nil {
		f.t.Fatalf("Create %s succeeded, want an error", id)
	}
	return err
}

// running creates and starts task id of bundle b (a module that runs
// until killed: spin.wasm, or the demo's `daemon`, which ticks forever)
// and kills it at the end of the test.
func (f *fixture) running(b *bundle, id string) *bundle {
	f.t.Helper()
	f.create(b, id)
	f.start(id)
	f.t.Cleanup(func() { f.kill(id, syscall.SIGKILL) })
	return b
}

func spinBundle(t *testing.T) *bundle {
	return newBundle(t, []string{"/spin.wasm"}, nil)
}

func demoBundle(t *testing.T, args ...string) *bundle {
	return newBundle(t, append([]string{"/demo.wasm"}, args...), map[string][]byte{"demo.wasm": DemoModule(t)})
}

func expectCode(t *testing.T, what string, got, want uint32) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: exit status %d, want %d", what, got, want)
	}
}

var cases = []testCase{
	{"hello: stdout, exit 0, events in order", func(t *testing.T, f *fixture) {
		b := newBundle(t, []string{"/hello.wasm"}, nil)
		b.withStdio(t, false)
		expectCode(t, "hello", f.run(b, "hello"), 0)
		if got := b.stdout.String(); got != tiny.HelloText {
			t.Fatalf("stdout %q", got)
		}
		want := []string{"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"}
		got := f.events.topics(len(want))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("events %v, want %v", got, want)
		}
		for _, e := range f.events.snapshot() {
			if e.namespace != Namespace {
				t.Errorf("%s published in namespace %q, want %q", e.topic, e.namespace, Namespace)
			}
			if ex, ok := e.event.(*eventstypes.TaskExit); ok && (ex.ContainerID != "hello" || ex.ExitStatus != 0) {
				t.Errorf("exit event %+v", ex)
			}
		}
	}},
	{"exit codes: proc_exit and return", func(t *testing.T, f *fixture) {
		expectCode(t, "exit42.wasm", f.run(newBundle(t, []string{"/exit42.wasm"}, nil), "tiny42"), 42)
		expectCode(t, "demo exit 3", f.run(demoBundle(t, "exit", "3"), "demo3"), 3)
		expectCode(t, "demo exit 0", f.run(demoBundle(t, "exit", "0"), "demo0"), 0)
	}},
	{"trap exits 134", func(t *testing.T, f *fixture) {
		expectCode(t, "trap", f.run(newBundle(t, []string{"/trap.wasm"}, nil), "trap"), runtime.ExitTrap)
	}},
	{"kill a spinning module: 128+signal", func(t *testing.T, f *fixture) {
		for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGINT} {
			id := fmt.Sprintf("spin-%d", sig)
			f.running(spinBundle(t), id)
			if st := f.state(id).Status; st != tasktypes.Status_RUNNING {
				t.Fatalf("state %v, want RUNNING", st)
			}
			if err := f.kill(id, sig); err != nil {
				t.Fatalf("Kill %v: %v", sig, err)
			}
			expectCode(t, sig.String(), f.wait(id), 128+uint32(sig))
			if st := f.state(id); st.Status != tasktypes.Status_STOPPED || st.ExitStatus != 128+uint32(sig) {
				t.Fatalf("state after kill: %v exit %d", st.Status, st.ExitStatus)
			}
			f.delete(id)
		}
	}},
	{"kill before start, then start fails", func(t *testing.T, f *fixture) {
		f.create(newBundle(t, []string{"/hello.wasm"}, nil), "early")
		if st := f.state("early").Status; st != tasktypes.Status_CREATED {
			t.Fatalf("state %v, want CREATED", st)
		}
		if err := f.kill("early", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "killed before start", f.wait("early"), 137)
		if _, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: "early"}); !errdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
			t.Fatalf("Start after kill: %v, want FailedPrecondition", err)
		}
	}},
	{"kill of an exited task is NotFound", func(t *testing.T, f *fixture) {
		f.create(newBundle(t, []string{"/hello.wasm"}, nil), "done")
		f.start("done")
		f.wait("done")
		if err := f.kill("done", syscall.SIGTERM); !errdefs.IsNotFound(err) {
			t.Fatalf("kill exited: %v, want NotFound", err)
		}
	}},
	{"delete: running refused, created and exited allowed, the bundle's delete record", func(t *testing.T, f *fixture) {
		b := f.running(spinBundle(t), "run")
		if _, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: "run"}); !errdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
			t.Fatalf("delete running: %v, want FailedPrecondition", err)
		}
		if _, err := deletemark.Read(b.dir); !os.IsNotExist(err) {
			t.Fatalf("delete record of a task not deleted: %v, want none", err)
		}
		if err := f.kill("run", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		f.wait("run")
		d := f.delete("run")
		if d.ExitStatus != 137 {
			t.Fatalf("delete exit status %d, want 137", d.ExitStatus)
		}
		// The runtime binary's delete answers containerd with this record.
		rec, err := deletemark.Read(b.dir)
		var got taskapi.DeleteResponse
		if err == nil {
			err = proto.Unmarshal(rec, &got)
		}
		if err != nil || !proto.Equal(&got, d) {
			t.Fatalf("delete record %v (%v), want the Delete response %v", &got, err, d)
		}
		f.create(spinBundle(t), "created")
		f.delete("created")
		if f.svc.Len() != 0 {
			t.Fatalf("%d tasks left after delete", f.svc.Len())
		}
	}},
	{"unknown ids are NotFound on every RPC", func(t *testing.T, f *fixture) {
		const id = "nope"
		calls := map[string]func() error{
			"State":   func() error { _, err := f.client.State(f.ctx, &taskapi.StateRequest{ID: id}); return err },
			"Start":   func() error { _, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: id}); return err },
			"Wait":    func() error { _, err := f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: id}); return err },
			"Kill":    func() error { _, err := f.client.Kill(f.ctx, &taskapi.KillRequest{ID: id, Signal: 9}); return err },
			"Delete":  func() error { _, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id}); return err },
			"Pids":    func() error { _, err := f.client.Pids(f.ctx, &taskapi.PidsRequest{ID: id}); return err },
			"Connect": func() error { _, err := f.client.Connect(f.ctx, &taskapi.ConnectRequest{ID: id}); return err },
			"Pause":   func() error { _, err := f.client.Pause(f.ctx, &taskapi.PauseRequest{ID: id}); return err },
			"Resume":  func() error { _, err := f.client.Resume(f.ctx, &taskapi.ResumeRequest{ID: id}); return err },
			"Stats":   func() error { _, err := f.client.Stats(f.ctx, &taskapi.StatsRequest{ID: id}); return err },
			"CloseIO": func() error {
				_, err := f.client.CloseIO(f.ctx, &taskapi.CloseIORequest{ID: id, Stdin: true})
				return err
			},
		}
		for name, call := range calls {
			check(t, name, errgrpc.ToNative(call()), errdefs.IsNotFound, id)
		}
	}},
	{"unsupported calls answer NotImplemented", func(t *testing.T, f *fixture) {
		f.create(spinBundle(t), "ni")
		calls := map[string]func() error{
			"ResizePty": func() error { _, err := f.client.ResizePty(f.ctx, &taskapi.ResizePtyRequest{ID: "ni"}); return err },
			"Checkpoint": func() error {
				_, err := f.client.Checkpoint(f.ctx, &taskapi.CheckpointTaskRequest{ID: "ni"})
				return err
			},
		}
		for name, call := range calls {
			if err := errgrpc.ToNative(call()); !errdefs.IsNotImplemented(err) {
				t.Errorf("%s: %v, want NotImplemented", name, err)
			}
		}
	}},
	{"pause and resume, as the runtime declares", func(t *testing.T, f *fixture) {
		f.create(spinBundle(t), "pz")
		_, err := f.client.Pause(f.ctx, &taskapi.PauseRequest{ID: "pz"})
		if want := map[bool]func(error) bool{true: errdefs.IsFailedPrecondition, false: errdefs.IsNotImplemented}[f.caps.Pause]; !want(errgrpc.ToNative(err)) {
			t.Fatalf("pause of a created task (pause declared %v): %v", f.caps.Pause, err)
		}
		f.start("pz")
		_, err = f.client.Pause(f.ctx, &taskapi.PauseRequest{ID: "pz"})
		if !f.caps.Pause {
			if !errdefs.IsNotImplemented(errgrpc.ToNative(err)) {
				t.Fatalf("pause of a runtime that declares none: %v, want NotImplemented", err)
			}
			if !strings.Contains(err.Error(), "forked") {
				t.Fatalf("NotImplemented without saying what would work: %v", err)
			}
		} else {
			if err != nil {
				t.Fatalf("pause: %v", err)
			}
			if st := f.state("pz").Status; st != tasktypes.Status_PAUSED {
				t.Fatalf("state %v, want PAUSED", st)
			}
			if _, err := f.client.Resume(f.ctx, &taskapi.ResumeRequest{ID: "pz"}); err != nil {
				t.Fatalf("resume: %v", err)
			}
			if st := f.state("pz").Status; st != tasktypes.Status_RUNNING {
				t.Fatalf("state after resume %v, want RUNNING", st)
			}
			want := []string{"/tasks/paused", "/tasks/resumed"}
			got := f.events.topics(4)
			if len(got) < 4 || got[2] != want[0] || got[3] != want[1] {
				t.Fatalf("events %v, want create, start, %v", got, want)
			}
		}
		if err := f.kill("pz", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "killed", f.wait("pz"), 137)
	}},
	{"duplicate create is AlreadyExists", func(t *testing.T, f *fixture) {
		f.create(newBundle(t, []string{"/hello.wasm"}, nil), "dup")
		if err := f.createErr(newBundle(t, []string{"/hello.wasm"}, nil), "dup"); !errdefs.IsAlreadyExists(err) {
			t.Fatalf("%v, want AlreadyExists", err)
		}
	}},
	{"args, env and cwd reach the module", func(t *testing.T, f *fixture) {
		b := demoBundle(t, "args", "x y", "--z")
		b.withStdio(t, false)
		expectCode(t, "args", f.run(b, "args"), 0)
		if got := b.stdout.String(); got != "/demo.wasm\nargs\nx y\n--z\n" {
			t.Errorf("args: %q", got)
		}
		b = demoBundle(t, "env")
		b.spec.Process.Env = []string{"A=1", "B=two words", "PATH=/"}
		b.withStdio(t, false)
		f.run(b, "env")
		if got := b.stdout.String(); !strings.Contains(got, "A=1\n") || !strings.Contains(got, "B=two words\n") {
			t.Errorf("env: %q", got)
		}
		b = demoBundle(t, "pwd")
		b.spec.Process.Cwd = "/work/dir"
		if err := os.MkdirAll(filepath.Join(b.rootfs, "work", "dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		b.withStdio(t, false)
		f.run(b, "pwd")
		if got := b.stdout.String(); got != "/work/dir\n" {
			t.Errorf("cwd: %q", got)
		}
	}},
	{"module resolved through PATH", func(t *testing.T, f *fixture) {
		b := newBundle(t, []string{"hello.wasm"}, nil)
		b.spec.Process.Env = []string{"PATH=/nothing:/"}
		b.withStdio(t, false)
		expectCode(t, "via PATH", f.run(b, "path"), 0)
		if got := b.stdout.String(); got != tiny.HelloText {
			t.Fatalf("stdout %q", got)
		}
	}},
	{"module from an image layer when args[0] is not in the rootfs", func(t *testing.T, f *fixture) {
		b := newBundle(t, []string{"hello-layer.wasm"}, nil)
		b.withStdio(t, false)
		expectCode(t, "layer module", f.run(b, "from-layer"), 0)
		if got := b.stdout.String(); got != tiny.HelloText {
			t.Fatalf("stdout %q", got)
		}
		err := f.createErr(newBundle(t, []string{"app.wasm"}, nil), "component-layer")
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "component") || strings.Contains(err.Error(), "not implemented") {
			t.Fatalf("component layer: %v, want an InvalidArgument error about components (never NotImplemented from Create: containerd would downgrade the API and retry)", err)
		}
		err = f.createErr(newBundle(t, []string{"nowhere.wasm"}, nil), "no-layer")
		if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "nowhere.wasm") {
			t.Fatalf("no module anywhere: %v, want NotFound naming it", err)
		}
	}},
	{"stdin reaches the module; CloseIO ends it", func(t *testing.T, f *fixture) {
		b := demoBundle(t, "cat")
		b.withStdio(t, true)
		f.create(b, "cat")
		w := openWriter(t, b.stdin)
		f.start("cat")
		if _, err := w.Write([]byte("piped input\n")); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if _, err := f.client.CloseIO(f.ctx, &taskapi.CloseIORequest{ID: "cat", Stdin: true}); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "cat", f.wait("cat"), 0)
		if got := b.stdout.String(); got != "piped input\n" {
			t.Fatalf("stdout %q", got)
		}
	}},
	{"writes land in the rootfs; read-only root refuses them", func(t *testing.T, f *fixture) {
		b := demoBundle(t, "write", "/out.txt", "written")
		expectCode(t, "write", f.run(b, "w"), 0)
		if got, err := os.ReadFile(filepath.Join(b.rootfs, "out.txt")); err != nil || string(got) != "written" {
			t.Fatalf("rootfs file %q, %v", got, err)
		}
		b = demoBundle(t, "write", "/out.txt", "written")
		b.spec.Root.Readonly = true
		if code := f.run(b, "ro"); code == 0 {
			t.Fatal("write to a read-only rootfs succeeded")
		}
	}},
	{"no escape from the rootfs by .. or symlinks", func(t *testing.T, f *fixture) {
		outside := t.TempDir()
		writeFile(t, filepath.Join(outside, "secret"), []byte("HOST SECRET"), 0o644)
		b := demoBundle(t, "cat", "/escape/secret")
		rel, err := filepath.Rel(b.rootfs, outside)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(rel, filepath.Join(b.rootfs, "escape")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(b.rootfs, "abs")); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/escape/secret", "/abs/secret", "/../../../../" + outside + "/secret"} {
			b.spec.Process.Args = []string{"/demo.wasm", "cat", path}
			b.withStdio(t, false)
			f.run(b, "esc")
			if out := b.stdout.String() + b.stderr.String(); strings.Contains(out, "HOST SECRET") {
				t.Fatalf("%s: module read a host file outside its rootfs", path)
			}
			os.Remove(filepath.Join(b.dir, "stdout"))
			os.Remove(filepath.Join(b.dir, "stderr"))
		}
	}},
	{"bind mounts are preopened, read-only when ro", func(t *testing.T, f *fixture) {
		host := t.TempDir()
		writeFile(t, filepath.Join(host, "in.txt"), []byte("from the host"), 0o644)
		b := demoBundle(t, "cat", "/data/in.txt")
		b.spec.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "ro"}}}
		b.withStdio(t, false)
		expectCode(t, "cat mount", f.run(b, "m1"), 0)
		if got := b.stdout.String(); got != "from the host" {
			t.Fatalf("stdout %q", got)
		}
		b2 := demoBundle(t, "write", "/data/new.txt", "x")
		b2.spec.Mounts = b.spec.Mounts
		if code := f.run(b2, "m2"); code == 0 {
			t.Fatal("write to a read-only mount succeeded")
		}
		if _, err := os.Stat(filepath.Join(host, "new.txt")); err == nil {
			t.Fatal("file created through a read-only mount")
		}
	}},
	{"memory limit from the spec: OOM exits 137", func(t *testing.T, f *fixture) {
		expectCode(t, "alloc above limit", f.run(withMemoryLimit(demoBundle(t, "alloc", "128"), 64<<20), "oom"), runtime.ExitOOM)
		expectCode(t, "alloc below limit", f.run(withMemoryLimit(demoBundle(t, "alloc", "16"), 64<<20), "fits"), 0)
	}},
	{"bad input: clear errors", func(t *testing.T, f *fixture) {
		check(t, "missing module", f.createErr(newBundle(t, []string{"/missing.wasm"}, nil), "b1"), errdefs.IsNotFound, "/missing.wasm")
		check(t, "not wasm", f.createErr(newBundle(t, []string{"/text.wasm"}, map[string][]byte{"text.wasm": []byte("just some text here")}), "b2"),
			errdefs.IsInvalidArgument, "not a WebAssembly module")
		check(t, "invalid wasm", f.createErr(newBundle(t, []string{"/bad.wasm"}, map[string][]byte{"bad.wasm": []byte("\x00asm\x01\x00\x00\x00\xff\xff")}), "b3"),
			errdefs.IsInvalidArgument, "invalid WebAssembly")
		check(t, "empty args", f.createErr(newBundle(t, []string{}, nil), "b4"), errdefs.IsInvalidArgument, "process.args")
		b := newBundle(t, []string{"/hello.wasm"}, nil)
		b.spec.Process.Terminal = true
		check(t, "terminal", f.createErr(b, "b5"), errdefs.IsInvalidArgument, "terminal")
		check(t, "malformed config.json", f.createDoc(t, newBundle(t, []string{"/hello.wasm"}, nil), "{not json", "b6"),
			errdefs.IsInvalidArgument, "config.json")
		if f.svc.Len() != 0 {
			t.Fatalf("failed creates left %d tasks", f.svc.Len())
		}
	}},
	{"pids and connect name a real process; stats where accounted", func(t *testing.T, f *fixture) {
		f.running(spinBundle(t), "p")
		if st, err := f.client.Stats(f.ctx, &taskapi.StatsRequest{ID: "p"}); !f.caps.Stats {
			if !errdefs.IsNotImplemented(errgrpc.ToNative(err)) {
				t.Fatalf("stats of a runtime that declares none: %v, want NotImplemented", err)
			}
		} else if err != nil {
			t.Fatalf("stats: %v", err)
		} else if st.Stats == nil || !strings.Contains(st.Stats.GetTypeUrl(), "Metrics") {
			t.Fatalf("stats %v: want cgroup Metrics", st.Stats)
		}
		pids, err := f.client.Pids(f.ctx, &taskapi.PidsRequest{ID: "p"})
		if err != nil || len(pids.Processes) != 1 || pids.Processes[0].Pid == 0 {
			t.Fatalf("pids %v, %v", pids, err)
		}
		if err := syscall.Kill(int(pids.Processes[0].Pid), 0); err != nil {
			t.Fatalf("pid %d is not a live process: %v", pids.Processes[0].Pid, err)
		}
		c, err := f.client.Connect(f.ctx, &taskapi.ConnectRequest{ID: "p"})
		if err != nil || c.TaskPid != pids.Processes[0].Pid {
			t.Fatalf("connect %v, %v", c, err)
		}
		if err := f.kill("p", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		f.wait("p")
	}},
	{"two tasks run at once, each with its own output", func(t *testing.T, f *fixture) {
		b1, b2 := demoBundle(t, "echo", "one"), demoBundle(t, "echo", "two")
		b1.withStdio(t, false)
		b2.withStdio(t, false)
		f.create(b1, "one")
		f.create(b2, "two")
		f.start("one")
		f.start("two")
		expectCode(t, "one", f.wait("one"), 0)
		expectCode(t, "two", f.wait("two"), 0)
		if b1.stdout.String() != "one\n" || b2.stdout.String() != "two\n" {
			t.Fatalf("outputs %q %q", b1.stdout.String(), b2.stdout.String())
		}
	}},
}
