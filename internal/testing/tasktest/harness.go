// Package tasktest is the task-level conformance table every runtime must
// pass: it drives task.Service over ttrpc, as containerd does, with real
// bundles, rootfs directories and stdio fifos.
package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	ctrdruntime "github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// Namespace is the containerd namespace the table's requests carry.
const Namespace = "tasktest"

// NewRuntime returns the runtime under test; it is closed by the caller's
// own cleanup.
type NewRuntime func(t *testing.T) runtime.Runtime

// recorder is a task.Publisher that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	topic     string
	namespace string
	event     any
}

func (r *recorder) Publish(ctx context.Context, event any) {
	ns, _ := namespaces.Namespace(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, recorded{topic: ctrdruntime.GetTopic(event), namespace: ns, event: event})
}

// snapshot returns a copy of the events recorded so far.
func (r *recorder) snapshot() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// topics returns the topics recorded so far, waiting up to a few seconds
// for at least n of them (the exit event is sent asynchronously).
func (r *recorder) topics(n int) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var out []string
		for _, e := range r.snapshot() {
			out = append(out, e.topic)
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// layerModules stands in for containerd's content store: container
// "from-layer" has hello.wasm as an image layer named "hello-layer.wasm";
// "component-layer" has a WebAssembly component.
type layerModules struct{}

func (layerModules) Module(ctx context.Context, containerID, arg0 string) (imagemodule.Module, error) {
	var bin []byte
	switch containerID {
	case "from-layer":
		if arg0 != "hello-layer.wasm" {
			return imagemodule.Module{}, fmt.Errorf("no layer %q: %w", arg0, errdefs.ErrInvalidArgument)
		}
		bin = tiny.Modules()["hello.wasm"]
	case "component-layer":
		bin = []byte("\x00asm\x0d\x00\x01\x00")
	default:
		return imagemodule.Module{}, fmt.Errorf("container %q: %w", containerID, errdefs.ErrNotFound)
	}
	return imagemodule.Module{Digest: "sha256:layer-" + containerID, Name: arg0 + " (layer)",
		Read: func(context.Context) ([]byte, error) { return bin, nil }}, nil
}

// fixture is one sandbox's task service, served over ttrpc.
type fixture struct {
	t      *testing.T
	client taskapi.TTRPCTaskService
	svc    *task.Service
	events *recorder
	ctx    context.Context
	rt     runtime.Runtime
	caps   Capabilities // what the runtime declares (Run)
}

func newFixture(t *testing.T, newRuntime NewRuntime) *fixture {
	t.Helper()
	rt := newRuntime(t)
	f := serve(t, rt)
	f.t, f.rt = t, rt
	return f
}

// serve serves a task service over rt on a ttrpc socket, as containerd
// would reach it.
func serve(t testing.TB, rt runtime.Runtime) *fixture {
	t.Helper()
	rec := &recorder{}
	f := serveWith(t, rt, rec)
	f.events = rec
	return f
}

// serveWith is serve with the given event publisher.
func serveWith(t testing.TB, rt runtime.Runtime, pub task.Publisher) *fixture {
	t.Helper()
	a, err := serveTaskAPI(rt, shortTempDir(t), pub, "sandbox-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	// A hang guard, not a pace: under -race beside other builds, compiling
	// the 7 MB net/http module alone took over 2 minutes.
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), Namespace), 10*time.Minute)
	t.Cleanup(func() {
		a.Close()
		cancel()
	})
	return &fixture{client: a.Client, svc: a.Service, ctx: ctx}
}

// shortTempDir keeps unix socket paths under the 107-byte limit.
func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "tt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// bundle is a task's bundle: config.json, a rootfs and stdio fifos.
type bundle struct {
	dir    string
	rootfs string
	spec   *specs.Spec
	stdin  string
	stdout *capture
	stderr *capture
}

// newBundle makes a bundle whose rootfs holds the tiny modules and the
// files given; config.json is written from spec at create.
func newBundle(t testing.TB, args []string, files map[string][]byte) *bundle {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for name, b := range tiny.Modules() {
		writeFile(t, filepath.Join(rootfs, name), b, 0o755)
	}
	for name, b := range files {
		writeFile(t, filepath.Join(rootfs, name), b, 0o755)
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Env: []string{"PATH=/bin:/"}, Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs"},
	}
	return &bundle{dir: dir, rootfs: rootfs, spec: spec}
}

func writeFile(t testing.TB, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) writeSpec(t testing.TB) {
	t.Helper()
	data, err := json.Marshal(b.spec)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b.dir, "config.json"), data, 0o644)
}

// capture reads an output fifo the way containerd's log copier does.
type capture struct {
	path string
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func newCapture(t *testing.T, dir, name string) *capture {
	t.Helper()
	c := &capture{path: filepath.Join(dir, name), done: make(chan struct{})}
	if err := syscall.Mkfifo(c.path, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := fifo.OpenFifo(context.Background(), c.path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		defer f.Close()
		b := make([]byte, 32<<10)
		for {
			n, err := f.Read(b)
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

// String waits for the writer to close (the module exited), then returns
// what was written.
func (c *capture) String() string {
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until what was written contains s (the writer may go on).
func (c *capture) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		got := c.buf.String()
		c.mu.Unlock()
		if strings.Contains(got, s) {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("output ended without %q: %q", s, got)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in output after 60s: %q", s, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withStdio gives the bundle stdout and stderr fifos, and a stdin fifo
// when stdin is true.
func (b *bundle) withStdio(t *testing.T, stdin bool) {
	t.Helper()
	b.stdout = newCapture(t, b.dir, "stdout")
	b.stderr = newCapture(t, b.dir, "stderr")
	if stdin {
		b.stdin = filepath.Join(b.dir, "stdin")
		if err := syscall.Mkfifo(b.stdin, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (b *bundle) createRequest(id string) *taskapi.CreateTaskRequest {
	r := &taskapi.CreateTaskRequest{ID: id, Bundle: b.dir, Stdin: b.stdin}
	if b.stdout != nil {
		r.Stdout, r.Stderr = b.stdout.path, b.stderr.path
	}
	return r
}

var (
	demoOnce sync.Once
	demoBin  []byte
	demoErr  error
)

// DemoModule builds hack/wasm/demo for wasip1 once per test binary.
func DemoModule(t *testing.T) []byte {
	t.Helper()
	demoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "demo-wasm")
		if err != nil {
			demoErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "demo.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/demo")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			demoErr = &buildError{err: err, out: string(b)}
			return
		}
		demoBin, demoErr = os.ReadFile(out)
	})
	if demoErr != nil {
		t.Fatalf("build demo module: %v", demoErr)
	}
	return demoBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// openWriter opens a stdin fifo the way containerd's copier does.
func openWriter(t *testing.T, path string) *os.File {
	t.Helper()
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}
