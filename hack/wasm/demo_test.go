package wasm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// buildDemo compiles ./demo for wasip1/wasm into a temporary directory.
func buildDemo(t *testing.T) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: the go tool is not in PATH, so the demo module cannot be built")
	}
	out := filepath.Join(t.TempDir(), "demo.wasm")
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, "./demo")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building demo: %v\n%s", err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type result struct {
	stdout, stderr string
	err            error
}

// exitCode maps a wazero run error to a process exit code (-1: not an exit).
func (r result) exitCode() int {
	if r.err == nil {
		return 0
	}
	var ee *sys.ExitError
	if errors.As(r.err, &ee) {
		return int(ee.ExitCode())
	}
	return -1
}

type demo struct {
	r        wazero.Runtime
	compiled wazero.CompiledModule
}

func (d demo) run(ctx context.Context, cfg wazero.ModuleConfig, args ...string) result {
	var stdout, stderr bytes.Buffer
	cfg = cfg.WithArgs(append([]string{"demo.wasm"}, args...)...).
		WithStdout(&stdout).WithStderr(&stderr).WithName("")
	_, err := d.r.InstantiateModule(ctx, d.compiled, cfg)
	return result{stdout.String(), stderr.String(), err}
}

func TestDemo(t *testing.T) {
	bin := buildDemo(t)
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	d := demo{r, compiled}
	base := wazero.NewModuleConfig()

	expect := func(t *testing.T, res result, code int, stdout string) {
		t.Helper()
		if got := res.exitCode(); got != code {
			t.Fatalf("exit code = %d (err %v), want %d; stderr: %s", got, res.err, code, res.stderr)
		}
		if res.stdout != stdout {
			t.Fatalf("stdout = %q, want %q", res.stdout, stdout)
		}
	}

	t.Run("default", func(t *testing.T) {
		expect(t, d.run(ctx, base), 0, "hello from wasm\n")
	})
	t.Run("echo", func(t *testing.T) {
		expect(t, d.run(ctx, base, "echo", "hello", "world"), 0, "hello world\n")
		expect(t, d.run(ctx, base, "echo", "-n", "hello"), 0, "hello")
	})
	t.Run("as /bin/echo", func(t *testing.T) { // critest's execSync: `echo -n hello`
		var stdout bytes.Buffer
		_, err := d.r.InstantiateModule(ctx, d.compiled, base.WithArgs("echo", "-n", "hello").WithStdout(&stdout).WithName(""))
		expect(t, result{stdout.String(), "", err}, 0, "hello")
	})
	t.Run("exit42", func(t *testing.T) {
		res := d.run(ctx, base, "exit", "42")
		var ee *sys.ExitError
		if !errors.As(res.err, &ee) || ee.ExitCode() != 42 {
			t.Fatalf("want *sys.ExitError 42, got %T %v", res.err, res.err)
		}
	})
	t.Run("env", func(t *testing.T) {
		res := d.run(ctx, base.WithEnv("ZED", "last").WithEnv("ALPHA", "1"), "env")
		expect(t, res, 0, "ALPHA=1\nZED=last\n")
	})
	t.Run("args", func(t *testing.T) {
		expect(t, d.run(ctx, base, "args", "a b", "c"), 0, "demo.wasm\nargs\na b\nc\n")
	})
	t.Run("stderr", func(t *testing.T) {
		res := d.run(ctx, base, "stderr", "oops")
		expect(t, res, 0, "")
		if res.stderr != "oops\n" {
			t.Fatalf("stderr = %q", res.stderr)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		res := d.run(ctx, base, "frobnicate")
		expect(t, res, 2, "")
		if !strings.Contains(res.stderr, "unknown command: frobnicate") {
			t.Fatalf("stderr = %q", res.stderr)
		}
	})
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		fs := base.WithFSConfig(wazero.NewFSConfig().WithDirMount(dir, "/data")).WithEnv("PWD", "/data")
		expect(t, d.run(ctx, fs, "write", "/data/out.txt", "some", "content"), 0, "")
		if b, err := os.ReadFile(filepath.Join(dir, "out.txt")); err != nil || string(b) != "some content" {
			t.Fatalf("written file = %q, %v", b, err)
		}
		expect(t, d.run(ctx, fs, "cat", "/data/out.txt"), 0, "some content")
		expect(t, d.run(ctx, fs, "ls", "/data"), 0, "out.txt\n")
		expect(t, d.run(ctx, fs, "pwd"), 0, "/data\n")
	})
	t.Run("cat-stdin", func(t *testing.T) {
		expect(t, d.run(ctx, base.WithStdin(strings.NewReader("piped\n")), "cat"), 0, "piped\n")
	})
	t.Run("alloc", func(t *testing.T) {
		expect(t, d.run(ctx, base, "alloc", "16"), 0, "allocated 16 MiB\n")
	})
	t.Run("panic", func(t *testing.T) {
		res := d.run(ctx, base, "panic")
		if res.exitCode() != 2 || !strings.Contains(res.stderr, "demo panic") {
			t.Fatalf("want exit 2 with the panic on stderr, got %d %v %q", res.exitCode(), res.err, res.stderr)
		}
	})
	t.Run("sleep", func(t *testing.T) {
		start := time.Now()
		expect(t, d.run(ctx, base.WithSysNanosleep().WithSysNanotime().WithSysWalltime(), "sleep", "0.1"), 0, "")
		if el := time.Since(start); el < 100*time.Millisecond {
			t.Fatalf("sleep 0.1 returned after %v", el)
		}
	})
	t.Run("spin-cancel", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		res := d.run(cctx, base, "spin")
		var ee *sys.ExitError
		if !errors.As(res.err, &ee) || ee.ExitCode() != sys.ExitCodeDeadlineExceeded {
			t.Fatalf("want ExitError(deadline exceeded), got %T %v", res.err, res.err)
		}
	})
}
