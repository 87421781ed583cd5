package tasktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Module is one run of a module through the task API with a rootfs and
// mounts of the caller's: what the differential WASI suite
// (internal/testing/wasidiff) compares with wazero's own host.
type Module struct {
	Rootfs string // host directory used in place as the rootfs
	Args   []string
	Env    []string // process.env, exactly
	Cwd    string   // "/" when empty
	Mounts []specs.Mount
}

// Result is how a module run ended and what it wrote.
type Result struct {
	Code           uint32
	Stdout, Stderr string
}

// RunModule creates, starts, waits for and deletes one task running m on
// a fresh runtime and task service, as containerd would (a bundle with
// config.json, stdout and stderr fifos, no stdin).
func RunModule(t *testing.T, newRuntime NewRuntime, m Module) Result {
	t.Helper()
	f := newFixture(t, newRuntime)
	cwd := m.Cwd
	if cwd == "" {
		cwd = "/"
	}
	rootfs, err := filepath.Abs(m.Rootfs)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{dir: t.TempDir(), rootfs: rootfs, spec: &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: m.Args, Env: m.Env, Cwd: cwd},
		Root:    &specs.Root{Path: rootfs},
		Mounts:  m.Mounts,
	}}
	b.withStdio(t, false)
	code := f.run(b, "module")
	return Result{Code: code, Stdout: b.stdout.String(), Stderr: b.stderr.String()}
}

var (
	guestOnce sync.Once
	guestBin  []byte
	guestErr  error
)

// WASIGuest builds internal/testing/wasidiff/guest, the module that calls
// wasi_snapshot_preview1 directly, for wasip1 once per test binary.
func WASIGuest(t testing.TB) []byte {
	t.Helper()
	guestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasi-guest")
		if err != nil {
			guestErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "guest.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/wasidiff/guest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			guestErr = &buildError{err: err, out: string(b)}
			return
		}
		guestBin, guestErr = os.ReadFile(out)
	})
	if guestErr != nil {
		t.Fatalf("build WASI guest module: %v", guestErr)
	}
	return guestBin
}
