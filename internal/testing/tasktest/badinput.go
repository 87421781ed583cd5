package tasktest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// badInputCases feed the task API one kind of bad input each. Every
// refused request must name what was wrong (error text) with the right
// errdefs class, and leave the service untouched: a witness task started
// before keeps running, and a new task still runs to exit 0.
var badInputCases = []testCase{
	{"bad input: config.json missing, unreadable or not a spec", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		f.expectCreate(t, "no config.json", newBundle(t, nil, nil), "", errdefs.IsInvalidArgument, "config.json")

		b := newBundle(t, nil, nil)
		if err := os.Mkdir(filepath.Join(b.dir, "config.json"), 0o755); err != nil {
			t.Fatal(err)
		}
		f.expectCreate(t, "config.json is a directory", b, "", errdefs.IsInvalidArgument, "config.json")

		// A fifo nobody writes: opening it would block Create forever.
		b = newBundle(t, nil, nil)
		if err := syscall.Mkfifo(filepath.Join(b.dir, "config.json"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.expectCreate(t, "config.json is a fifo", b, "", errdefs.IsInvalidArgument, "config.json")

		for name, doc := range map[string]string{
			"process is a string":     `{"ociVersion":"1.0.2","process":"run me"}`,
			"args is not a list":      `{"ociVersion":"1.0.2","process":{"args":"/hello.wasm","cwd":"/"}}`,
			"a JSON array":            `[1,2,3]`,
			"trailing garbage":        `{"ociVersion":"1.0.2"} {"x":`,
			"empty file":              ` `,
			"deeply nested":           strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000),
			"larger than 4 MiB":       `{"ociVersion":"1.0.2","hostname":"` + strings.Repeat("x", 5<<20) + `"}`,
			"memory limit not number": `{"process":{"args":["/hello.wasm"],"cwd":"/"},"linux":{"resources":{"memory":{"limit":"1G"}}}}`,
		} {
			f.expectCreate(t, "config.json "+name, newBundle(t, nil, nil), doc, errdefs.IsInvalidArgument, "config.json")
		}
		for name, doc := range map[string]string{
			"no process":         `{"ociVersion":"1.0.2","root":{"path":"rootfs"}}`,
			"empty args":         `{"process":{"args":[],"cwd":"/"},"root":{"path":"rootfs"}}`,
			"relative cwd":       `{"process":{"args":["/hello.wasm"],"cwd":"work"},"root":{"path":"rootfs"}}`,
			"env without =":      `{"process":{"args":["/hello.wasm"],"cwd":"/","env":["NOEQUALS"]},"root":{"path":"rootfs"}}`,
			"args[0] with NUL":   `{"process":{"args":["/hello.wasm\u0000x"],"cwd":"/"},"root":{"path":"rootfs"}}`,
			"negative mem limit": `{"process":{"args":["/hello.wasm"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{"resources":{"memory":{"limit":-5}}}}`,
		} {
			err := f.createDoc(t, newBundle(t, nil, nil), doc, "cfg")
			if err == nil {
				// Accepted: then it must run like any task, and not hurt.
				f.cleanup(t, "cfg")
				t.Logf("config.json %s: accepted", name)
				continue
			}
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotFound(err) {
				t.Errorf("config.json %s: %v, want InvalidArgument or NotFound", name, err)
			}
			t.Logf("config.json %s: %v", name, err)
		}

		b = newBundle(t, []string{"/hello.wasm"}, nil)
		b.writeSpec(t)
		_, err := f.client.Create(f.ctx, &taskapi.CreateTaskRequest{ID: "rel", Bundle: "relative/bundle"})
		check(t, "relative bundle path", errgrpc.ToNative(err), errdefs.IsInvalidArgument, "not an absolute path")
		_, err = f.client.Create(f.ctx, &taskapi.CreateTaskRequest{ID: "", Bundle: b.dir})
		check(t, "empty task id", errgrpc.ToNative(err), errdefs.IsInvalidArgument, "task id is empty")
		_, err = f.client.Create(f.ctx, &taskapi.CreateTaskRequest{ID: "gone", Bundle: filepath.Join(b.dir, "no-such-dir")})
		check(t, "bundle dir missing", errgrpc.ToNative(err), errdefs.IsInvalidArgument, "config.json")
	}},
	{"bad input: hostile and truncated Wasm binaries", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		hostile := tiny.Hostile()
		for name, want := range map[string]string{
			"overmem.wasm":     "invalid WebAssembly",
			"hugesection.wasm": "invalid WebAssembly",
			"hugevec.wasm":     "invalid WebAssembly",
			"hugelocals.wasm":  "more than 50000 locals",
			"truncated.wasm":   "invalid WebAssembly",
		} {
			b := newBundle(t, []string{"/" + name}, map[string][]byte{name: hostile[name]})
			f.expectCreate(t, name, b, "", errdefs.IsInvalidArgument, want)
		}
		// bigtable.wasm is valid: whether a runtime compiles it or not,
		// it must not take the process down by allocating 2^32 entries.
		b := newBundle(t, []string{"/bigtable.wasm"}, map[string][]byte{"bigtable.wasm": hostile["bigtable.wasm"]})
		if err := f.createDoc(t, b, "", "table"); err == nil {
			f.start("table")
			code := f.wait("table")
			t.Logf("bigtable.wasm: accepted, exit %d", code)
			if code == 0 {
				t.Errorf("bigtable.wasm: exit 0, want a refusal or a failed instantiation")
			}
			f.delete("table")
		} else if !errdefs.IsInvalidArgument(err) && !errdefs.IsResourceExhausted(err) {
			t.Errorf("bigtable.wasm: %v, want InvalidArgument or ResourceExhausted", err)
		} else {
			t.Logf("bigtable.wasm: %v", err)
		}
		// hello.wasm cut at every length. Cut at a section boundary it is
		// a valid module with fewer sections: it may be accepted, and then
		// must run to an exit like any module.
		hello := tiny.Modules()["hello.wasm"]
		for n := 0; n < len(hello); n++ {
			what := fmt.Sprintf("hello.wasm cut at %d of %d bytes", n, len(hello))
			b := newBundle(t, []string{"/cut.wasm"}, map[string][]byte{"cut.wasm": hello[:n]})
			err := f.createDoc(t, b, "", "cut")
			switch {
			case n < 8:
				check(t, what, err, errdefs.IsInvalidArgument, "not a WebAssembly module")
			case err == nil:
				f.start("cut")
				t.Logf("%s: a valid module, exit %d", what, f.wait("cut"))
				f.delete("cut")
			default:
				check(t, what, err, errdefs.IsInvalidArgument, "invalid WebAssembly")
			}
		}
	}},
	{"bad input: memory minimum above the limit is refused at create", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		name := "bigmem.wasm"
		b := newBundle(t, []string{"/" + name}, map[string][]byte{name: tiny.Hostile()[name]})
		f.expectCreate(t, "2 GiB minimum, default 1 GiB limit", b, "", errdefs.IsResourceExhausted, "above its limit")
		b = withMemoryLimit(newBundle(t, []string{"/" + name}, map[string][]byte{name: tiny.Hostile()[name]}), 1<<20) // 16 pages
		f.expectCreate(t, "2 GiB minimum, 1 MiB limit", b, "", errdefs.IsResourceExhausted, "above its limit of 16 pages")
		b = withMemoryLimit(newBundle(t, []string{"/hello.wasm"}, nil), 32<<10) // half a page: no module can start
		f.expectCreate(t, "32 KiB limit", b, "", errdefs.IsInvalidArgument, "less than one Wasm page")
	}},
	{"bad input: deep recursion traps (134), the service lives on", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		b := newBundle(t, []string{"/recurse.wasm"}, map[string][]byte{"recurse.wasm": tiny.Hostile()["recurse.wasm"]})
		expectCode(t, "recurse", f.run(b, "recurse"), runtime.ExitTrap)
	}},
	{"bad input: stdio fifos missing or not fifos", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		for _, stream := range []string{"stdin", "stdout", "stderr"} {
			for what, mk := range map[string]func(string) error{
				"missing":      func(string) error { return nil },
				"regular file": func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) },
				"directory":    func(p string) error { return os.Mkdir(p, 0o755) },
			} {
				b := newBundle(t, []string{"/hello.wasm"}, nil)
				b.writeSpec(t)
				path := filepath.Join(b.dir, "io-"+stream)
				if err := mk(path); err != nil {
					t.Fatal(err)
				}
				r := b.createRequest("io")
				switch stream {
				case "stdin":
					r.Stdin = path
				case "stdout":
					r.Stdout = path
				case "stderr":
					r.Stderr = path
				}
				_, err := f.client.Create(f.ctx, r)
				if stream == "stdin" && what == "regular file" && err == nil {
					// A regular file is a valid stdin (containerd uses fifos,
					// but a file reads fine).
					f.cleanup(t, "io")
					continue
				}
				check(t, stream+" "+what, errgrpc.ToNative(err), errdefs.IsInvalidArgument, stream)
			}
		}
	}},
	{"bad input: rootfs symlinks pointing out do not reach the host", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		outside := t.TempDir()
		// A module outside the rootfs that exits 42: running it would be an
		// escape.
		writeFile(t, filepath.Join(outside, "evil.wasm"), tiny.Modules()["exit42.wasm"], 0o755)
		b := newBundle(t, []string{"/hello.wasm"}, nil)
		rel, err := filepath.Rel(b.rootfs, outside)
		if err != nil {
			t.Fatal(err)
		}
		links := map[string]string{
			"abs.wasm":   filepath.Join(outside, "evil.wasm"),
			"rel.wasm":   filepath.Join(rel, "evil.wasm"),
			"dots.wasm":  strings.Repeat("../", 30) + strings.TrimPrefix(outside, "/") + "/evil.wasm",
			"loop.wasm":  "loop.wasm",
			"loopa.wasm": "loopb.wasm",
			"loopb.wasm": "loopa.wasm",
			"hostbin":    outside,
			"relbin":     rel,
			"loopdir":    "loopdir/x",
		}
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(b.rootfs, name)); err != nil {
				t.Fatal(err)
			}
		}
		try := func(what string, args []string, env []string, cwd string) {
			t.Helper()
			c := *b
			c.spec = &specs.Spec{Version: specs.Version, Root: b.spec.Root,
				Process: &specs.Process{Args: args, Env: env, Cwd: cwd}}
			err := f.createDoc(t, &c, "", "esc")
			if err != nil {
				if !errdefs.IsNotFound(err) && !errdefs.IsInvalidArgument(err) {
					t.Errorf("%s: %v, want NotFound or InvalidArgument", what, err)
				}
				t.Logf("%s: %v", what, err)
				return
			}
			f.start("esc")
			if code := f.wait("esc"); code == 42 {
				t.Errorf("%s: ran the module outside the rootfs", what)
			}
			f.delete("esc")
		}
		for _, arg0 := range []string{"/abs.wasm", "/rel.wasm", "/dots.wasm", "/loop.wasm", "/loopa.wasm",
			"/hostbin/evil.wasm", "/relbin/evil.wasm", "/loopdir/evil.wasm",
			"/../../../../" + outside + "/evil.wasm", outside + "/evil.wasm"} {
			try("args[0] "+arg0, []string{arg0}, nil, "/")
		}
		try("PATH through symlinks out", []string{"evil.wasm"}, []string{"PATH=/hostbin:/relbin:/loopdir"}, "/")
		try("cwd through a symlink out", []string{"evil.wasm"}, []string{"PATH="}, "/hostbin")
		try("cwd a symlink loop", []string{"/hello.wasm"}, nil, "/loopdir")
	}},
	{"bad input: huge args and env", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		b := newBundle(t, []string{"/hello.wasm", strings.Repeat("a", 512<<10)}, nil)
		expectCode(t, "one 512 KiB argument", f.run(b, "bigarg"), 0)
		many := func(n int, f string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf(f, i)
			}
			return out
		}
		b = newBundle(t, append([]string{"/hello.wasm"}, many(4000, "arg%d")...), nil)
		expectCode(t, "4,000 arguments", f.run(b, "manyargs"), 0)
		b = newBundle(t, []string{"/hello.wasm"}, nil)
		b.spec.Process.Env = many(4000, "VAR%d=x")
		expectCode(t, "4,000 env entries", f.run(b, "manyenv"), 0)
		b = newBundle(t, append([]string{"/hello.wasm"}, many(50000, "a%d")...), nil)
		f.expectCreate(t, "50,000 arguments", b, "", errdefs.IsInvalidArgument, "process.args has 50001 entries")
		b = newBundle(t, []string{"/hello.wasm"}, nil)
		b.spec.Process.Env = many(20000, "V%d=x")
		f.expectCreate(t, "20,000 env entries", b, "", errdefs.IsInvalidArgument, "process.env has 20000 entries")
		b = newBundle(t, []string{"/hello.wasm", strings.Repeat("a", 1<<20)}, nil)
		f.expectCreate(t, "a 1 MiB argument", b, "", errdefs.IsInvalidArgument, "process.args+env total")
		b = newBundle(t, []string{"/hello.wasm"}, nil)
		b.spec.Process.Env = []string{"BIG=" + strings.Repeat("e", 1<<20)}
		f.expectCreate(t, "a 1 MiB env entry", b, "", errdefs.IsInvalidArgument, "process.args+env total")
		b = newBundle(t, []string{"/hello.wasm", strings.Repeat("a", 5<<20)}, nil)
		f.expectCreate(t, "5 MiB of args (config.json above 4 MiB)", b, "", errdefs.IsInvalidArgument, "config.json")
	}},
	{"bad input: bad signals, and Start of a running task", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		for _, sig := range []uint32{0, 65, 1 << 31} {
			check(t, fmt.Sprintf("Kill signal %d", sig), f.kill("witness", syscall.Signal(sig)), errdefs.IsInvalidArgument, "signal")
		}
		_, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: "witness"})
		check(t, "Start of a running task", errgrpc.ToNative(err), errdefs.IsFailedPrecondition, "already started")
	}},
	{"bad input: concurrent create and delete of the same id", func(t *testing.T, f *fixture) {
		defer f.witness(t)()
		const id, workers, rounds = "same", 4, 8
		var mu sync.Mutex
		counts := map[string]int{}
		expected := func(op string, err error) {
			mu.Lock()
			defer mu.Unlock()
			err = errgrpc.ToNative(err)
			switch {
			case err == nil:
				counts[op+" ok"]++
			case errdefs.IsAlreadyExists(err), errdefs.IsNotFound(err), errdefs.IsFailedPrecondition(err):
				counts[op+" refused"]++
			default:
				t.Errorf("%s: %v: not an error its race explains", op, err)
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range rounds {
					b := spinBundle(t)
					b.writeSpec(t)
					_, err := f.client.Create(f.ctx, b.createRequest(id))
					expected("Create", err)
					if w%2 == 0 {
						_, err = f.client.Start(f.ctx, &taskapi.StartRequest{ID: id})
						expected("Start", err)
					}
					_, err = f.client.Kill(f.ctx, &taskapi.KillRequest{ID: id, Signal: 9})
					expected("Kill", err)
					_, err = f.client.State(f.ctx, &taskapi.StateRequest{ID: id})
					expected("State", err)
					_, err = f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id})
					expected("Delete", err)
				}
			})
		}
		wg.Wait()
		t.Logf("outcomes: %v", counts)
		f.cleanup(t, id)
		if n := f.svc.Len(); n != 1 { // the witness
			t.Fatalf("%d tasks left, want the witness only", n)
		}
	}},
}

// check fails the test unless err is of class is and names want.
func check(t *testing.T, what string, err error, is func(error) bool, want string) {
	t.Helper()
	if err == nil || !is(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want an error of the right class naming %q", what, err, want)
	}
}

// createDoc writes config.json: doc if given, else b's spec if it has
// args, else leaves the bundle as the caller prepared it (config.json
// missing, or not a file). It returns Create's native error.
func (f *fixture) createDoc(t *testing.T, b *bundle, doc, id string) error {
	t.Helper()
	switch {
	case doc != "":
		writeFile(t, filepath.Join(b.dir, "config.json"), []byte(doc), 0o644)
	case b.spec.Process.Args != nil:
		b.writeSpec(t)
	}
	_, err := f.client.Create(f.ctx, b.createRequest(id))
	return errgrpc.ToNative(err)
}

// expectCreate asserts that creating b (see createDoc) fails with an error
// of class is naming want.
func (f *fixture) expectCreate(t *testing.T, what string, b *bundle, doc string, is func(error) bool, want string) {
	t.Helper()
	err := f.createDoc(t, b, doc, "bad")
	if err == nil {
		f.cleanup(t, "bad")
	}
	check(t, what, err, is, want)
}

// cleanup kills and deletes task id if it exists.
func (f *fixture) cleanup(t *testing.T, id string) {
	t.Helper()
	if err := f.kill(id, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("kill %s: %v", id, err)
	}
	if _, err := f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: id}); err != nil && !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("wait %s: %v", id, err)
	}
	if _, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id}); err != nil && !errdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("delete %s: %v", id, err)
	}
}

// witness starts a spinning task; the returned func checks that it still
// runs and that a new task runs to exit 0, then ends the witness.
func (f *fixture) witness(t *testing.T) func() {
	t.Helper()
	f.running(spinBundle(t), "witness")
	return func() {
		t.Helper()
		if f.ctx.Err() != nil {
			return
		}
		if st := f.state("witness").Status; st != tasktypes.Status_RUNNING {
			t.Errorf("witness task %v after the bad inputs, want RUNNING", st)
		}
		b := newBundle(t, []string{"/hello.wasm"}, nil)
		b.withStdio(t, false)
		expectCode(t, "hello after the bad inputs", f.run(b, "after"), 0)
		if got := b.stdout.String(); got != tiny.HelloText {
			t.Errorf("hello after the bad inputs: stdout %q", got)
		}
		if err := f.kill("witness", syscall.SIGKILL); err != nil {
			t.Fatalf("kill witness: %v", err)
		}
		expectCode(t, "witness", f.wait("witness"), 137)
		f.delete("witness")
	}
}
