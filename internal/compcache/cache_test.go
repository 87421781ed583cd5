//go:build linux

package compcache

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
)

// TestReopenHitsDiskCache: a second Cache (as after a daemon restart) on
// the same directory serves the compiled code from disk: the second compile
// writes nothing (same file: inode, size, mtime, ctime), the index records
// the read as a use, and the module still runs.
func TestReopenHitsDiskCache(t *testing.T) {
	requireCompiler(t)
	dir := cacheDir(t)
	bin := hello(t, "")

	c1 := open(t, dir, 1<<20)
	runHello(t, c1, bin)
	sweep(t, c1)
	codeDir := c1.codeDir
	name := onlyEntry(t, codeDir)
	assertConsistent(t, c1)
	closeCache(t, c1)

	// The index on disk vouches for exactly that file.
	var x index
	b, err := os.ReadFile(filepath.Join(dir, indexName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	if x.Dir != filepath.Base(codeDir) || len(x.Entries) != 1 || x.Entries[name] == nil ||
		x.Entries[name].SHA256 != sha256File(t, filepath.Join(codeDir, name)) {
		t.Fatalf("index %s does not record %s", b, name)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode: %v %v", st.Mode(), err)
	}

	before := listing(t, codeDir)
	c2 := open(t, dir, 1<<20)
	defer closeCache(t, c2)
	if n, _ := c2.Stats(); n != 1 {
		t.Fatalf("reopened cache has %d entries, want 1", n)
	}
	usedBefore := c2.idx.Entries[name].Used
	runHello(t, c2, bin)
	sweep(t, c2)
	if after := listing(t, codeDir); !maps.Equal(before, after) {
		t.Fatalf("second compile rewrote the cache:\nbefore %v\nafter  %v", before, after)
	}
	assertConsistent(t, c2)
	if c2.watch == nil {
		t.Log("no inotify: the use of the entry is not observable")
		return
	}
	if used := c2.idx.Entries[name].Used; used <= usedBefore {
		t.Fatalf("entry last use %d, was %d: the disk hit was not seen", used, usedBefore)
	}
}

// TestWazeroAloneFailsOnCorruptEntry pins what wazero does without this
// package (see the package comment): a flipped byte of machine code makes
// every compile of the module fail, and the file stays.
func TestWazeroAloneFailsOnCorruptEntry(t *testing.T) {
	requireCompiler(t)
	ctx := context.Background()
	dir := cacheDir(t)
	c := open(t, dir, 1<<20)
	runHello(t, c, hello(t, ""))
	closeCache(t, c)
	path := filepath.Join(c.codeDir, onlyEntry(t, c.codeDir))
	corrupt(t, path, flipCode)

	wz, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer wz.Close(ctx)
	for i := 0; i < 2; i++ {
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wz))
		_, err := r.CompileModule(ctx, hello(t, ""))
		r.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
			t.Fatalf("compile %d with a corrupt entry: %v, want a checksum mismatch", i, err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("wazero removed the corrupt entry: %v", err)
	}
}

// Corruptions of an entry file. Offsets follow the format in the package
// comment: magic(6) vlen(1) version nfuncs(4) offsets(8 each) codelen(8)
// code crc(4) ...
func headerLen(b []byte) int { return 6 + 1 + int(b[6]) + 4 }

func flipCode(b []byte) []byte {
	b[len(b)/2] ^= 0xff // hello's entry is mostly machine code
	return b
}

// bumpOffset moves the first function's entry point: wazero's CRC does
// not cover it, and running the module then faults (a fatal crash).
func bumpOffset(b []byte) []byte { b[headerLen(b)] += 3; return b }

// hugeCatchTable sets the high byte of the catch-clause table count (the
// last 4 bytes, 0 for hello): wazero would make a slice of 0x7f000000
// slices and die of OOM.
func hugeCatchTable(b []byte) []byte { b[len(b)-1] = 0x7f; return b }

func truncateHalf(b []byte) []byte { return b[:len(b)/2] }

func garbage(b []byte) []byte { rand.Read(b); return b }

func corrupt(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestUntrustedEntriesAreRemoved: whatever is wrong with an entry at Open
// (bytes changed, including those wazero cannot detect and would crash on;
// truncated; replaced; unknown to the index; index lost or garbled), Open
// removes it, the module recompiles, runs, and is recorded again.
func TestUntrustedEntriesAreRemoved(t *testing.T) {
	requireCompiler(t)
	cases := map[string]func(t *testing.T, root, entry string){
		"flipped machine code byte": func(t *testing.T, _, entry string) { corrupt(t, entry, flipCode) },
		"function offset moved":     func(t *testing.T, _, entry string) { corrupt(t, entry, bumpOffset) },
		"catch table count huge":    func(t *testing.T, _, entry string) { corrupt(t, entry, hugeCatchTable) },
		"truncated":                 func(t *testing.T, _, entry string) { corrupt(t, entry, truncateHalf) },
		"replaced with garbage":     func(t *testing.T, _, entry string) { corrupt(t, entry, garbage) },
		"emptied":                   func(t *testing.T, _, entry string) { corrupt(t, entry, func([]byte) []byte { return nil }) },
		"index lost": func(t *testing.T, root, _ string) {
			if err := os.Remove(filepath.Join(root, indexName)); err != nil {
				t.Fatal(err)
			}
		},
		"index garbled": func(t *testing.T, root, _ string) {
			if err := os.WriteFile(filepath.Join(root, indexName), []byte(`{"format":1,`), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"replaced by a symlink to a good copy": func(t *testing.T, _, entry string) {
			cp := filepath.Join(t.TempDir(), "copy")
			b, err := os.ReadFile(entry)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(entry); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(cp, entry); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			root := cacheDir(t)
			bin := hello(t, "")
			c := open(t, root, 1<<20)
			runHello(t, c, bin)
			closeCache(t, c)
			entry := filepath.Join(c.codeDir, onlyEntry(t, c.codeDir))
			damage(t, root, entry)

			c = open(t, root, 1<<20)
			defer closeCache(t, c)
			if n, _ := c.Stats(); n != 0 {
				t.Fatalf("Stats: %d entries, want 0", n)
			}
			recompiles(t, c, bin, entry, "untrusted entry after Open")
		})
	}
}

// TestOpenRemovesStrayFiles: what is not a verified entry of this wazero
// version is removed at Open (unknown entry names, temp files of an
// interrupted write, directories, other versions' directories, an index
// temp file); a good entry stays and is hit, and files in the root that
// are not ours are left alone.
func TestOpenRemovesStrayFiles(t *testing.T) {
	requireCompiler(t)
	root := cacheDir(t)
	bin := hello(t, "")
	c := open(t, root, 1<<20)
	runHello(t, c, bin)
	closeCache(t, c)
	good := onlyEntry(t, c.codeDir)
	goodID := listing(t, c.codeDir)[good]

	stray := []string{
		filepath.Join(c.codeDir, strings.Repeat("ab", 32)),           // unknown entry
		filepath.Join(c.codeDir, good+".123456.tmp"),                 // interrupted Add
		filepath.Join(c.codeDir, strings.ToUpper(good)),              // not wazero's name
		filepath.Join(c.codeDir, strings.Repeat("cd", 32), "nested"), // a directory
		filepath.Join(root, "wazero-v0.0.1-amd64-linux", good),       // another version
		filepath.Join(root, indexName+".42.tmp"),                     // interrupted save
		filepath.Join(root, probePrefix+"7", "x"),                    // interrupted probe
	}
	for _, p := range stray {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stray"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	notOurs := filepath.Join(root, "notes.txt")
	if err := os.WriteFile(notOurs, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}

	c = open(t, root, 1<<20)
	defer closeCache(t, c)
	for _, p := range stray {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Open: %v", p, err)
		}
	}
	for _, p := range []string{filepath.Join(c.codeDir, strings.Repeat("cd", 32)), filepath.Join(root, "wazero-v0.0.1-amd64-linux")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("directory %s survived Open: %v", p, err)
		}
	}
	if _, err := os.Stat(notOurs); err != nil {
		t.Errorf("Open removed a file that is not the cache's: %v", err)
	}
	runHello(t, c, bin)
	sweep(t, c)
	if l := listing(t, c.codeDir); len(l) != 1 || l[good] != goodID {
		t.Fatalf("good entry not reused: %v", l)
	}
	assertConsistent(t, c)
}

// TestCrashBeforeSweep: wazero wrote an entry but the process died before
// recording it. Nobody vouches for the file, so the next Open removes it.
func TestCrashBeforeSweep(t *testing.T) {
	requireCompiler(t)
	root := cacheDir(t)
	bin := hello(t, "")
	c := open(t, root, 1<<20)
	runHello(t, c, bin)
	entry := filepath.Join(c.codeDir, onlyEntry(t, c.codeDir))
	if err := c.release(); err != nil { // "crash": no Sweep, no index update
		t.Fatal(err)
	}

	c = open(t, root, 1<<20)
	defer closeCache(t, c)
	recompiles(t, c, bin, entry, "unrecorded entry after Open")
}

// TestSweepRemovesEntryModifiedInPlace: an entry changed in place while
// the cache is open (same inode, other bytes) is removed by the next
// Sweep, and the module recompiles.
func TestSweepRemovesEntryModifiedInPlace(t *testing.T) {
	requireCompiler(t)
	c := open(t, cacheDir(t), 1<<20)
	defer closeCache(t, c)
	bin := hello(t, "")
	runHello(t, c, bin)
	sweep(t, c)
	entry := filepath.Join(c.codeDir, onlyEntry(t, c.codeDir))
	before := listing(t, c.codeDir)

	f, err := os.OpenFile(entry, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff, 0xfe}, 40); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// A distinct mtime, independent of the clock's granularity.
	old := unix.NsecToTimespec(1_000_000_000)
	if err := unix.UtimesNano(entry, []unix.Timespec{old, old}); err != nil {
		t.Fatal(err)
	}
	if after := listing(t, c.codeDir); after[filepath.Base(entry)].ino != before[filepath.Base(entry)].ino {
		t.Fatal("test bug: the write was not in place")
	}

	sweep(t, c)
	recompiles(t, c, bin, entry, "entry modified in place, after Sweep")
}

// TestBoundEvictsLeastRecentlyUsed: with room for three entries, a fourth
// evicts the least recently used one, where a disk hit counts as a use,
// and the order survives a reopen.
func TestBoundEvictsLeastRecentlyUsed(t *testing.T) {
	requireCompiler(t)
	size := entrySize(t)
	root := cacheDir(t)
	c := open(t, root, 3*size)
	defer func() { closeCache(t, c) }()
	if c.watch == nil {
		t.Skip("no inotify: disk hits are not observable")
	}

	// compile runs module i and returns the entry it added ("" for a hit).
	compile := func(i int) string {
		t.Helper()
		before := listing(t, c.codeDir)
		runHello(t, c, hello(t, fmt.Sprint(i)))
		sweep(t, c)
		assertConsistent(t, c)
		switch a := added(before, listing(t, c.codeDir)); len(a) {
		case 0:
			return ""
		case 1:
			if got := c.idx.Entries[a[0]]; got == nil || got.Size != size {
				t.Fatalf("entry %s: %+v, want %d bytes", a[0], got, size)
			}
			return a[0]
		default:
			t.Fatalf("one compile added %v", a)
			return ""
		}
	}
	present := func(want ...string) {
		t.Helper()
		l := listing(t, c.codeDir)
		if len(l) != len(want) {
			t.Fatalf("have %d entries, want %d", len(l), len(want))
		}
		for _, n := range want {
			if _, ok := l[n]; !ok {
				t.Fatalf("entry %s was evicted", n)
			}
		}
	}

	e0, e1, e2 := compile(0), compile(1), compile(2)
	present(e0, e1, e2)
	if hit := compile(0); hit != "" { // a disk hit: module 0 is now the most recent
		t.Fatalf("module 0 was recompiled into %s", hit)
	}
	e3 := compile(3) // evicts module 1, the least recently used
	present(e0, e2, e3)

	closeCache(t, c)
	c = open(t, root, 3*size)
	e4 := compile(4) // after a restart the order holds: module 2 goes
	present(e0, e3, e4)

	// An entry larger than the whole bound is not kept, and the module
	// still runs (from memory now, from a recompile later).
	closeCache(t, c)
	c = open(t, root, size-1)
	if n, _ := c.Stats(); n != 0 {
		t.Fatalf("bound below one entry: %d entries kept", n)
	}
	compile(5)
	present()
}

// TestSweepConcurrentWithCompiles compiles many modules from several
// goroutines while another sweeps in a loop under a bound that forces
// eviction: every module runs correctly and the final state is consistent.
func TestSweepConcurrentWithCompiles(t *testing.T) {
	requireCompiler(t)
	size := entrySize(t)
	c := open(t, cacheDir(t), 3*size+size/2)
	defer closeCache(t, c)

	const workers, perWorker = 4, 6
	done := make(chan struct{})
	sweepErr := make(chan error, 1)
	go func() {
		defer close(sweepErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := c.Sweep(context.Background()); err != nil {
				sweepErr <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := 0; i < perWorker; i++ {
				// Every module twice: the second compile may hit the disk
				// or find its entry evicted meanwhile.
				bin := hello(t, fmt.Sprintf("w%d-m%d", w, i%(perWorker/2)))
				if out, err := run(c, bin); err != nil || out != helloOutput {
					t.Errorf("worker %d: output %q (%v)", w, out, err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	if err := <-sweepErr; err != nil {
		t.Fatalf("concurrent Sweep: %v", err)
	}
	sweep(t, c)
	assertConsistent(t, c)
	if n, _ := c.Stats(); n != 3 {
		t.Fatalf("%d entries under a bound of 3.5 entries, want 3", n)
	}
}

// TestOpenErrors: a path Open cannot use gives an error naming the
// problem, and a directory held by another Cache is refused.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(tmp, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir string
		max       int64
		want      error
	}{
		{"file instead of dir", file, 1 << 20, unix.ENOTDIR},
		{"under a file", filepath.Join(file, "cache"), 1 << 20, unix.ENOTDIR},
		{"cannot be created, even by root", "/proc/self/compcache", 1 << 20, os.ErrNotExist},
		{"exists, not ours to change, even for root", "/proc/self", 1 << 20, os.ErrPermission},
		{"read-only dir", readOnly, 1 << 20, os.ErrPermission},
		{"no bound", filepath.Join(tmp, "ok"), 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == os.ErrPermission && unix.Access(tc.dir, unix.W_OK) == nil {
				t.Skip("running as root: permissions do not apply")
			}
			c, err := Open(ctx, tc.dir, tc.max)
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "compcache: ") {
				t.Errorf("error %q does not say where it comes from", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}

	t.Run("in use", func(t *testing.T) {
		dir := filepath.Join(tmp, "shared")
		c := open(t, dir, 1<<20)
		if c2, err := Open(ctx, dir, 1<<20); err == nil {
			c2.Close()
			t.Fatal("second Open on a directory in use succeeded")
		} else if !errors.Is(err, unix.EWOULDBLOCK) || !strings.Contains(err.Error(), "in use") {
			t.Fatalf("second Open: %v", err)
		}
		closeCache(t, c)
		if err := c.Sweep(ctx); !errors.Is(err, errClosed) {
			t.Fatalf("Sweep after Close: %v", err)
		}
		closeCache(t, open(t, dir, 1<<20)) // free again after Close
	})

	t.Run("loose permissions are tightened", func(t *testing.T) {
		dir := filepath.Join(tmp, "loose")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		closeCache(t, open(t, dir, 1<<20))
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("mode %v, %v; want 0700", st.Mode(), err)
		}
	})
}
