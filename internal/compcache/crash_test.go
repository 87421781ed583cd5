//go:build linux

package compcache

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
)

// crashDirEnv names the cache directory the child process of
// TestWazeroAloneCrashesOnUncheckedField compiles from.
const crashDirEnv = "COMPCACHE_CRASH_DIR"

// TestWazeroAloneCrashesOnUncheckedField pins the reason this package
// hashes entries: a byte wazero's CRC does not cover (here the count of
// the catch-clause table) makes raw wazero kill the process at compile
// time, a fatal error no recover can catch. The compile runs in a child
// process (this test binary again).
func TestWazeroAloneCrashesOnUncheckedField(t *testing.T) {
	requireCompiler(t)
	if dir := os.Getenv(crashDirEnv); dir != "" {
		// Bound the child's data so that the outcome does not depend
		// on the host's memory.
		lim := unix.Rlimit{Cur: 8 << 30, Max: 8 << 30}
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &lim); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		wz, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wz))
		_, err = r.CompileModule(ctx, hello(t, ""))
		t.Fatalf("compile returned (%v) instead of crashing", err)
	}
	if testing.Short() {
		t.Skip("runs a child process that dies")
	}
	dir := cacheDir(t)
	c := open(t, dir, 1<<20)
	runHello(t, c, hello(t, ""))
	closeCache(t, c)
	corrupt(t, filepath.Join(c.codeDir, onlyEntry(t, c.codeDir)), hugeCatchTable)

	cmd := exec.Command(os.Args[0], "-test.run=^TestWazeroAloneCrashesOnUncheckedField$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	// The Go runtime's own death, or the race detector's while mapping
	// shadow memory for the same allocation.
	for _, death := range []string{"fatal error: runtime: out of memory", "ThreadSanitizer failed to allocate"} {
		if err != nil && strings.Contains(string(out), death) {
			t.Logf("child died (%v): %s", err, death)
			return
		}
	}
	t.Fatalf("child: %v, want it killed by an allocation; output:\n%.2000s", err, out)
}
