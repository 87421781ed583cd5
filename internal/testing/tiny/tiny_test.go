package tiny

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func TestLEB128(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want []byte
	}{{0, []byte{0}}, {127, []byte{0x7f}}, {128, []byte{0x80, 0x01}}, {624485, []byte{0xe5, 0x8e, 0x26}}} {
		if got := uleb(tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("uleb(%d) = %x, want %x", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    int64
		want []byte
	}{{0, []byte{0}}, {42, []byte{42}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}}, {-1, []byte{0x7f}}, {-123456, []byte{0xc0, 0xbb, 0x78}}} {
		if got := sleb(tc.v); !bytes.Equal(got, tc.want) {
			t.Errorf("sleb(%d) = %x, want %x", tc.v, got, tc.want)
		}
	}
}

// compile sets up a runtime (closing modules when ctx is done) with WASI
// and compiles the module file at path.
func compile(ctx context.Context, t *testing.T, path string) (wazero.Runtime, wazero.CompiledModule) {
	t.Helper()
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	t.Cleanup(func() { r.Close(context.Background()) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("compile %s: %v", filepath.Base(path), err)
	}
	return r, compiled
}

// start runs _start of a compiled module and returns stdout and the error.
func start(ctx context.Context, r wazero.Runtime, m wazero.CompiledModule) (string, error) {
	var stdout bytes.Buffer
	_, err := r.InstantiateModule(ctx, m, wazero.NewModuleConfig().WithStdout(&stdout).WithName(""))
	return stdout.String(), err
}

// run compiles and runs the module file at path.
func run(ctx context.Context, t *testing.T, path string) (string, error) {
	t.Helper()
	r, m := compile(ctx, t, path)
	return start(ctx, r, m)
}

func TestModules(t *testing.T) {
	dir := t.TempDir()
	paths, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("generated %v, want 4 modules", paths)
	}
	ctx := context.Background()

	t.Run("hello", func(t *testing.T) {
		out, err := run(ctx, t, filepath.Join(dir, "hello.wasm"))
		if err != nil {
			t.Fatalf("want exit 0, got %v", err)
		}
		if out != "hello from wasm\n" {
			t.Fatalf("stdout = %q", out)
		}
	})

	t.Run("exit42", func(t *testing.T) {
		_, err := run(ctx, t, filepath.Join(dir, "exit42.wasm"))
		var ee *sys.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 42 {
			t.Fatalf("want *sys.ExitError 42, got %T %v", err, err)
		}
	})

	t.Run("trap", func(t *testing.T) {
		_, err := run(ctx, t, filepath.Join(dir, "trap.wasm"))
		var ee *sys.ExitError
		if err == nil || errors.As(err, &ee) {
			t.Fatalf("want a trap that is not an ExitError, got %T %v", err, err)
		}
		if !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("want an unreachable trap, got %v", err)
		}
	})

	t.Run("spin", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r, m := compile(cctx, t, filepath.Join(dir, "spin.wasm"))
		timer := time.AfterFunc(200*time.Millisecond, cancel)
		defer timer.Stop()
		done := make(chan error, 1)
		go func() {
			_, err := start(cctx, r, m)
			done <- err
		}()
		select {
		case err := <-done:
			var ee *sys.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != sys.ExitCodeContextCanceled {
				t.Fatalf("want ExitError(context canceled), got %T %v", err, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("spin.wasm was not stopped by context cancellation")
		}
	})
}

func TestDeterministic(t *testing.T) {
	a, b := Modules(), Modules()
	for n := range a {
		if !bytes.Equal(a[n], b[n]) {
			t.Errorf("%s differs between runs", n)
		}
	}
}
