//go:build linux

package confinedfs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
)

// probe is testdata/fsprobe built for wasip1, once per test binary.
var probe struct {
	once sync.Once
	wasm []byte
	skip string // why the end-to-end tests cannot run
	err  error
}

// probeWasm builds testdata/fsprobe with GOOS=wasip1 GOARCH=wasm into the
// first caller's t.TempDir and returns the module bytes.
func probeWasm(t *testing.T) []byte {
	t.Helper()
	probe.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			probe.skip = "the go tool is not in PATH, cannot build testdata/fsprobe for wasip1: " + err.Error()
			return
		}
		out := filepath.Join(t.TempDir(), "fsprobe.wasm")
		cmd := exec.Command(goTool, "build", "-o", out, "./testdata/fsprobe")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if output, err := cmd.CombinedOutput(); err != nil {
			probe.err = errors.New("building testdata/fsprobe: " + err.Error() + "\n" + string(output))
			return
		}
		probe.wasm, probe.err = os.ReadFile(out)
	})
	if probe.skip != "" {
		t.Skip(probe.skip)
	}
	if probe.err != nil {
		t.Fatal(probe.err)
	}
	return probe.wasm
}

// guest is the probe compiled once for a wazero runtime with WASI.
type guest struct {
	rt  wazero.Runtime
	mod wazero.CompiledModule
}

func compileGuest(t *testing.T, wasm []byte) guest {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { _ = rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	return guest{rt, mod}
}

// run runs the guest with fsys mounted as "/" and returns its stdout as a
// map from the text before ": " to the text after, per line.
func (g guest) run(t *testing.T, fsys *confinedfs.FS, args ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	cfg := wazero.NewModuleConfig().
		WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(fsys, "/")).
		WithArgs(append([]string{"fsprobe"}, args...)...).
		WithStdout(&stdout).
		WithStderr(&stderr).
		WithName("") // anonymous, so instances do not conflict
	_, err := g.rt.InstantiateModule(ctx, g.mod, cfg)
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatalf("running fsprobe %q: %v\nstdout:\n%s\nstderr:\n%s", args, err, &stdout, &stderr)
	}
	lines := make(map[string]string)
	var last string
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSuffix(line, "\n")
		if k, v, ok := strings.Cut(line, ": "); ok && (last == "" || strings.HasPrefix(k, "/") || strings.HasPrefix(k, "write ") || strings.HasPrefix(k, "ls ")) {
			lines[k], last = v, k
		} else if last != "" { // continuation of multi-line file content
			lines[last] += "\n" + line
		} else {
			t.Fatalf("unexpected fsprobe output line %q", line)
		}
	}
	return lines
}

func TestWazeroEndToEnd(t *testing.T) {
	wasm := probeWasm(t)
	fx := newFixture(t)
	// The module itself lives in the rootfs and is found and read the way
	// the daemon does.
	writeFile(t, filepath.Join(fx.root, "app", "fsprobe.wasm"), string(wasm))
	fsys := mustNew(t, fx.root)
	modPath, err := fsys.LookPath("fsprobe.wasm", "/", "/bin:/app")
	if err != nil || modPath != "/app/fsprobe.wasm" {
		t.Fatalf("LookPath = %q, %v", modPath, err)
	}
	mf, err := fsys.Open(modPath)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err = io.ReadAll(mf)
	_ = mf.Close()
	if err != nil {
		t.Fatal(err)
	}
	g := compileGuest(t, wasm)

	t.Run("reads", func(t *testing.T) {
		// The guest (Go's wasip1 port) sees every path as absolute.
		want := make(map[string]string)
		for p, content := range fx.escapeAttempts() {
			want["/"+strings.TrimPrefix(p, "/")] = content
		}
		args := slices.Sorted(maps.Keys(want))
		out := g.run(t, fsys, args...)
		for _, p := range args {
			got, ok := out[p]
			switch {
			case !ok:
				t.Errorf("%s: no output", p)
			case strings.Contains(got, fx.secret):
				t.Fatalf("%s: the guest read the secret outside the root: %q", p, got)
			case want[p] == "" && !strings.HasPrefix(got, "error: "):
				t.Errorf("%s: read %q, want an error", p, got)
			case want[p] != "" && got != want[p]:
				t.Errorf("%s: read %q, want %q", p, got, want[p])
			}
		}
		if got := out["/loop1"]; !strings.Contains(strings.ToLower(got), "too many symbolic links") {
			t.Errorf("/loop1: %q, want ELOOP", got)
		}
	})

	t.Run("ls", func(t *testing.T) {
		out := g.run(t, fsys, "ls", "/")
		names := strings.Split(out["ls /"], ",")
		for _, want := range []string{"abs", "app", "dir", "etc", "hello.txt", "outsidedir"} {
			if !slices.Contains(names, want) {
				t.Errorf("ls / = %v, missing %q", names, want)
			}
		}
		// Listing through the absolute symlink lists the rootfs /etc.
		if got := g.run(t, fsys, "ls", "/abs")["ls /abs"]; got != "passwd" {
			t.Errorf("ls /abs = %q, want passwd", got)
		}
		for _, dir := range []string{"/outsidedir", "/outsidedirabs", "/rel/../../outside"} {
			if got := g.run(t, fsys, "ls", dir)["ls "+dir]; !strings.HasPrefix(got, "error: ") {
				t.Errorf("ls %s = %q, want an error", dir, got)
			}
		}
	})

	t.Run("write", func(t *testing.T) {
		out := g.run(t, fsys, "write", "/from-guest.txt", "guest data")
		if got := out["write /from-guest.txt"]; got != "ok" {
			t.Fatalf("write: %q", got)
		}
		if got := readHost(t, filepath.Join(fx.root, "from-guest.txt")); got != "guest data" {
			t.Errorf("rootfs file = %q", got)
		}
		// Through an absolute symlink: lands in the rootfs /etc.
		if got := g.run(t, fsys, "write", "/abs/guest", "x")["write /abs/guest"]; got != "ok" {
			t.Errorf("write /abs/guest: %q", got)
		}
		if got := readHost(t, filepath.Join(fx.root, "etc", "guest")); got != "x" {
			t.Errorf("rootfs etc/guest = %q", got)
		}
		// Toward the outside directory: fails, nothing appears there.
		for _, p := range []string{"/outsidedir/pwned", "/outsidedirabs/pwned", "/../outside/pwned", "/dir/sub/deep"} {
			if got := g.run(t, fsys, "write", p, "pwned")["write "+p]; !strings.HasPrefix(got, "error: ") {
				t.Errorf("write %s = %q, want an error", p, got)
			}
		}
		entries, err := os.ReadDir(fx.secretDir)
		if err != nil || len(entries) != 1 || readHost(t, filepath.Join(fx.secretDir, "secret")) != fx.secret {
			t.Errorf("outside dir changed: %v, %v", entries, err)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		ro := mustNew(t, fx.root, confinedfs.ReadOnly())
		out := g.run(t, ro, "write", "/ro.txt", "data")
		if got := out["write /ro.txt"]; !strings.HasPrefix(got, "error: ") || !strings.Contains(strings.ToLower(got), "read-only file system") {
			t.Errorf("write on read-only FS = %q, want a read-only file system error", got)
		}
		if _, err := os.Lstat(filepath.Join(fx.root, "ro.txt")); err == nil {
			t.Error("ro.txt was created")
		}
		if got := g.run(t, ro, "/abs/passwd")["/abs/passwd"]; got != passwd {
			t.Errorf("read on read-only FS = %q", got)
		}
	})
}
