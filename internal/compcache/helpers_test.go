//go:build linux

package compcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

const helloOutput = tiny.HelloText

// requireCompiler skips where wazero has no compiler: the interpreter
// never uses the file cache.
func requireCompiler(t *testing.T) {
	t.Helper()
	if goruntime.GOARCH != "amd64" && goruntime.GOARCH != "arm64" {
		t.Skipf("wazero has no compiler on %s", goruntime.GOARCH)
	}
}

// hello returns hello.wasm, made distinct by tag (a custom section), so
// each tag is another module, another cache key and another file.
func hello(t *testing.T, tag string) []byte {
	t.Helper()
	bin := bytes.Clone(tiny.Modules()["hello.wasm"])
	if bin == nil {
		t.Fatal("tiny.Modules has no hello.wasm")
	}
	if tag == "" {
		return bin
	}
	// Custom section: id 0, size, then a name and a payload (both < 128
	// bytes here, so each LEB128 is one byte).
	payload := append([]byte{byte(len("tag"))}, "tag"+tag...)
	if len(payload) >= 0x80 {
		t.Fatal("tag too long")
	}
	return append(append(bin, 0, byte(len(payload))), payload...)
}

// run compiles bin in a new runtime on c's wazero cache, runs it with WASI
// and returns its stdout. The module and runtime are closed, so the next run reads
// the compiled code from disk again (closing the runtime alone would not:
// the engine, shared through the cache, keeps a compiled module until
// CompiledModule.Close). Safe to call from any goroutine.
func run(c *Cache, bin []byte) (string, error) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(c.CompilationCache()))
	defer r.Close(ctx)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return "", err
	}
	cm, err := r.CompileModule(ctx, bin)
	if err != nil {
		return "", fmt.Errorf("compile: %w", err)
	}
	defer cm.Close(ctx)
	var out bytes.Buffer
	if _, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStdout(&out)); err != nil {
		return "", fmt.Errorf("run: %w", err)
	}
	return out.String(), nil
}

// runHello runs bin and fails unless it printed hello.wasm's greeting.
func runHello(t *testing.T, c *Cache, bin []byte) {
	t.Helper()
	if out, err := run(c, bin); err != nil || out != helloOutput {
		t.Fatalf("output %q (%v), want %q", out, err, helloOutput)
	}
}

// cacheDir returns a path for a cache directory that does not exist yet,
// as the daemon's would on first start.
func cacheDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "compcache")
}

func open(t *testing.T, dir string, maxBytes int64) *Cache {
	t.Helper()
	c, err := Open(context.Background(), dir, maxBytes)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return c
}

func sweep(t *testing.T, c *Cache) {
	t.Helper()
	if err := c.Sweep(context.Background()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
}

func closeCache(t *testing.T, c *Cache) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// listing maps every file in dir to its identity (inode, size, times).
func listing(t *testing.T, dir string) map[string]fileID {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fileID{}
	for _, de := range des {
		id, err := statID(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[de.Name()] = id
	}
	return out
}

// added returns the names in after but not in before.
func added(before, after map[string]fileID) []string {
	var out []string
	for n := range after {
		if _, ok := before[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

// onlyEntry returns the name of the single file in dir.
func onlyEntry(t *testing.T, dir string) string {
	t.Helper()
	l := listing(t, dir)
	if len(l) != 1 {
		t.Fatalf("want 1 file in %s, have %v", dir, l)
	}
	for n := range l {
		return n
	}
	panic("unreachable")
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// assertConsistent checks the invariants after a Sweep: every file in the
// version directory is recorded with its real size and sha256, every
// record has its file, Stats agrees, and the bound holds. Its own reads
// are not counted as uses.
func assertConsistent(t *testing.T, c *Cache) {
	t.Helper()
	l := listing(t, c.codeDir)
	n, total := c.Stats()
	if n != len(l) {
		t.Fatalf("Stats: %d entries, directory has %d files", n, len(l))
	}
	var sum int64
	c.mu.Lock()
	defer c.mu.Unlock()
	read := map[string]bool{}
	defer c.ignoreOwnReads(context.Background(), read)
	for name, id := range l {
		read[name] = true
		rec := c.idx.Entries[name]
		if rec == nil {
			t.Fatalf("file %s is not recorded", name)
		}
		if rec.Size != id.size || rec.SHA256 != sha256File(t, filepath.Join(c.codeDir, name)) {
			t.Fatalf("record of %s does not match the file", name)
		}
		sum += id.size
	}
	if sum != total {
		t.Fatalf("Stats: %d bytes, files total %d", total, sum)
	}
	if total > c.maxBytes {
		t.Fatalf("total %d bytes above the bound %d", total, c.maxBytes)
	}
}

// recompiles checks that entry was removed (what says when), that bin
// compiles and runs again, and that after a Sweep the cache holds its one
// entry, consistently recorded.
func recompiles(t *testing.T, c *Cache, bin []byte, entry, what string) {
	t.Helper()
	if _, err := os.Lstat(entry); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s: still there: %v", what, err)
	}
	runHello(t, c, bin)
	sweep(t, c)
	if n, _ := c.Stats(); n != 1 {
		t.Fatalf("after recompiling: %d entries, want 1", n)
	}
	assertConsistent(t, c)
}

// entrySize is the size of hello.wasm's cache entry, measured once in a
// scratch cache.
func entrySize(t *testing.T) int64 {
	t.Helper()
	c := open(t, cacheDir(t), 1<<20)
	defer closeCache(t, c)
	runHello(t, c, hello(t, "measure"))
	sweep(t, c)
	n, size := c.Stats()
	if n != 1 || size <= 0 {
		t.Fatalf("after one compile: %d entries, %d bytes", n, size)
	}
	return size
}
