//go:build linux

package compcache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/log"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/unix"
)

const (
	lockName    = "lock"
	probePrefix = ".probe-"
	// wazeroDirPrefix starts the name of wazero's version directories
	// (cache.go: ensuresFileCache).
	wazeroDirPrefix = "wazero-"
)

var errClosed = errors.New("compcache: cache is closed")

// Cache is wazero's on-disk compilation cache, bounded and verified. Pass
// CompilationCache to wazero.RuntimeConfig.WithCompilationCache, call Sweep
// after compiles, and Close once every runtime using it is closed.
type Cache struct {
	root     string // the directory given to Open, absolute
	codeDir  string // wazero's version directory under root
	maxBytes int64
	wz       wazero.CompilationCache
	lock     *os.File    // holds an flock on root/lock
	watch    *usageWatch // nil when inotify is unavailable

	mu      sync.Mutex
	idx     *index
	pending map[string]uint64 // uses seen after the last Sweep's scan
	closed  bool
}

// Open opens the cache in dir, creating it (mode 0700) when missing. Before
// it returns, every entry is checked against the index (size and sha256) and
// removed unless it matches; entries of other wazero versions and files we
// did not record are removed too; then least recently used entries are
// evicted until the total is at most maxBytes. One Cache at a time may use
// dir.
func Open(ctx context.Context, dir string, maxBytes int64) (_ *Cache, err error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("compcache: size bound %d: must be positive", maxBytes)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	if err := ensureDir(ctx, root); err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	lock, err := lockDir(root)
	if err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	c := &Cache{root: root, maxBytes: maxBytes, lock: lock, pending: map[string]uint64{}}
	defer func() {
		if err != nil {
			c.release()
		}
	}()
	if err := c.open(ctx); err != nil {
		return nil, fmt.Errorf("compcache: open %s: %w", root, err)
	}
	return c, nil
}

// open verifies the directory and creates wazero's cache on it.
func (c *Cache) open(ctx context.Context) error {
	name, err := wazeroDirName(c.root)
	if err != nil {
		return err
	}
	c.codeDir = filepath.Join(c.root, name)
	if err := c.cleanRoot(ctx, name); err != nil {
		return err
	}
	// Creating wazero's cache only makes directories; nothing is read
	// until a runtime compiles, and no runtime can exist before we return.
	if c.wz, err = wazero.NewCompilationCacheWithDir(c.root); err != nil {
		return fmt.Errorf("wazero cache: %w", err)
	}
	if st, err := os.Lstat(c.codeDir); err != nil {
		return fmt.Errorf("wazero's version directory (layout changed?): %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("wazero's version directory %s: %w", c.codeDir, unix.ENOTDIR)
	}
	c.idx, err = loadIndex(c.root, name)
	if err != nil {
		log.G(ctx).WithError(err).Warn("compcache: index unusable, no entry can be trusted")
	}
	if err := c.verifyAll(ctx); err != nil {
		return err
	}
	if err := c.evictLocked(ctx); err != nil {
		return err
	}
	if err := c.idx.save(c.root); err != nil {
		return err
	}
	// Watch after verifying, so our own reads are not counted as uses.
	if c.watch, err = newUsageWatch(c.codeDir); err != nil {
		log.G(ctx).WithError(err).Warn("compcache: no usage tracking, eviction falls back to write order")
	}
	entries, bytes := len(c.idx.Entries), c.idx.totalBytes()
	log.G(ctx).WithField("dir", c.codeDir).WithField("entries", entries).
		WithField("bytes", bytes).Debug("compcache: opened")
	return nil
}

// Shared returns a wazero cache on dir, the directory a Cache of another
// process (the daemon's) has open: a pod server's runtime reads its entries
// and adds new ones, which wazero renames into place whole. It neither
// verifies nor evicts: the owning Cache records those entries at its next
// Sweep, bounds the total, and removes at its next Open any it never
// recorded. Entries are trusted as the forked runtime's workers trust them
// (they read dir directly too): dir is root's, 0700, and only wazero in the
// daemon's processes writes it.
func Shared(dir string) (wazero.CompilationCache, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("compcache: %w", err)
	}
	if st, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("compcache: shared dir: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("compcache: shared dir %s: %w", root, unix.ENOTDIR)
	}
	wz, err := wazero.NewCompilationCacheWithDir(root)
	if err != nil {
		return nil, fmt.Errorf("compcache: shared dir: %w", err)
	}
	return wz, nil
}

// CompilationCache returns wazero's cache for
// wazero.RuntimeConfig.WithCompilationCache. The Cache owns it: do not
// close it directly.
func (c *Cache) CompilationCache() wazero.CompilationCache { return c.wz }

// Sweep records the entries wazero wrote since the last Sweep, takes note
// of the entries it read, removes entries modified in place, and evicts
// least recently used entries until the total is at most the bound. It is
// safe to call at any time, also while runtimes compile.
func (c *Cache) Sweep(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	if err := c.sweepLocked(ctx); err != nil {
		return fmt.Errorf("compcache: sweep %s: %w", c.codeDir, err)
	}
	return nil
}

// Stats returns the number and total size of the entries recorded by the
// last Open or Sweep.
func (c *Cache) Stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idx.Entries), c.idx.totalBytes()
}

// Close records pending entries (as Sweep), then closes wazero's cache and
// releases the directory. Close every runtime using the cache first.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	ctx := context.Background()
	err := c.sweepLocked(ctx)
	if err != nil {
		err = fmt.Errorf("compcache: close %s: %w", c.codeDir, err)
	}
	return errors.Join(err, c.release())
}

// release frees what Open acquired.
func (c *Cache) release() error {
	var errs []error
	if c.watch != nil {
		errs = append(errs, c.watch.close())
	}
	if c.wz != nil {
		errs = append(errs, c.wz.Close(context.Background()))
	}
	errs = append(errs, c.lock.Close()) // closing drops the flock
	return errors.Join(errs...)
}

// verifyAll keeps the files of codeDir that match their record and
// removes all others; records without a file are dropped.
func (c *Cache) verifyAll(ctx context.Context) error {
	des, err := os.ReadDir(c.codeDir)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		rec := c.idx.Entries[name]
		var reason string
		switch {
		case !isEntryName(name):
			reason = "not a cache entry"
		case !de.Type().IsRegular():
			reason = "not a regular file"
		case rec == nil:
			reason = "not in the index"
		default:
			sum, id, err := digestFile(filepath.Join(c.codeDir, name))
			switch {
			case err != nil:
				reason = err.Error()
			case id.size != rec.Size:
				reason = fmt.Sprintf("size %d, recorded %d", id.size, rec.Size)
			case sum != rec.SHA256:
				reason = "sha256 differs from the recorded one"
			default:
				rec.id = id
				kept[name] = true
				continue
			}
		}
		if err := c.remove(ctx, name, reason); err != nil {
			return err
		}
	}
	for name := range c.idx.Entries {
		if !kept[name] {
			delete(c.idx.Entries, name)
		}
	}
	return nil
}

// sweepLocked is Sweep with c.mu held.
func (c *Cache) sweepLocked(ctx context.Context) error {
	used := c.drainUsage(ctx)
	des, err := os.ReadDir(c.codeDir)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	hashed := map[string]bool{}
	for _, de := range des {
		name := de.Name()
		if !isEntryName(name) {
			continue // wazero's temp files: writes in flight
		}
		kept, err := c.check(ctx, name, used[name], hashed)
		if err != nil {
			return err
		}
		present[name] = kept
	}
	for name := range c.idx.Entries {
		if !present[name] {
			delete(c.idx.Entries, name) // removed, e.g. by wazero as stale
		}
	}
	c.ignoreOwnReads(ctx, hashed)
	if err := c.evictLocked(ctx); err != nil {
		return err
	}
	return c.idx.save(c.root)
}

// check records or re-verifies the file name in codeDir; used is the
// tick of its last use seen by the watch (0: none). It reports whether the
// file is kept, and adds name to hashed when it read the file.
func (c *Cache) check(ctx context.Context, name string, used uint64, hashed map[string]bool) (bool, error) {
	path := filepath.Join(c.codeDir, name)
	rec := c.idx.Entries[name]
	id, err := statID(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, c.remove(ctx, name, err.Error())
	}
	if rec != nil && rec.id == id {
		rec.Used = max(rec.Used, used)
		return true, nil
	}
	// New (written by wazero since the last Sweep) or changed.
	hashed[name] = true
	sum, id, err := digestFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, c.remove(ctx, name, err.Error())
	case rec != nil && id.ino == rec.id.ino && sum != rec.SHA256:
		return false, c.remove(ctx, name, "modified in place")
	}
	if used == 0 {
		used = c.idx.tick()
	}
	if rec != nil {
		used = max(used, rec.Used)
	}
	c.idx.Entries[name] = &entry{Size: id.size, SHA256: sum, Used: used, id: id}
	return true, nil
}

// drainUsage returns the last-use tick of every name used since the last
// call, including uses seen after the previous scan.
func (c *Cache) drainUsage(ctx context.Context) map[string]uint64 {
	used := c.pending
	c.pending = map[string]uint64{}
	if c.watch == nil {
		return used
	}
	names, overflow, err := c.watch.drain()
	if err != nil {
		log.G(ctx).WithError(err).Warn("compcache: reading usage events")
	}
	if overflow {
		log.G(ctx).Debug("compcache: usage events lost, LRU order is approximate")
	}
	for _, n := range names {
		if isEntryName(n) {
			used[n] = c.idx.tick()
		}
	}
	return used
}

// ignoreOwnReads drains the uses caused by our own hashing (of the names
// in hashed) and keeps the others for the next Sweep.
func (c *Cache) ignoreOwnReads(ctx context.Context, hashed map[string]bool) {
	if c.watch == nil {
		return
	}
	names, _, err := c.watch.drain()
	if err != nil {
		log.G(ctx).WithError(err).Warn("compcache: reading usage events")
	}
	for _, n := range names {
		if isEntryName(n) && !hashed[n] {
			c.pending[n] = c.idx.tick()
		}
	}
}

// evictLocked evicts down to the bound and logs what it removed.
func (c *Cache) evictLocked(ctx context.Context) error {
	removed, err := evict(c.idx, c.codeDir, c.maxBytes)
	for _, name := range removed {
		log.G(ctx).WithField("entry", name).Debug("compcache: evicted")
	}
	return err
}

// remove deletes an untrusted file and its record.
func (c *Cache) remove(ctx context.Context, name, reason string) error {
	log.G(ctx).WithField("entry", name).WithField("reason", reason).
		Warn("compcache: removing untrusted entry")
	delete(c.idx.Entries, name)
	return removeFile(filepath.Join(c.codeDir, name))
}

// cleanRoot removes from root what is ours to remove and of no use:
// other wazero versions' directories, probe directories and index temp
// files left by a crash. Anything else is left alone.
func (c *Cache) cleanRoot(ctx context.Context, keep string) error {
	des, err := os.ReadDir(c.root)
	if err != nil {
		return err
	}
	for _, de := range des {
		name := de.Name()
		stale := name != keep && de.IsDir() && strings.HasPrefix(name, wazeroDirPrefix)
		if !stale && !isIndexTemp(name) && !strings.HasPrefix(name, probePrefix) {
			continue
		}
		log.G(ctx).WithField("path", name).Debug("compcache: removing stale file")
		if err := removeFile(filepath.Join(c.root, name)); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir creates root with mode 0700, or tightens an existing one.
func ensureDir(ctx context.Context, root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	st, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %w", root, unix.ENOTDIR)
	}
	if st.Mode().Perm()&0o077 != 0 {
		log.G(ctx).WithField("dir", root).Warn("compcache: cache directory was accessible to others, setting mode 0700")
		if err := os.Chmod(root, 0o700); err != nil {
			return fmt.Errorf("restrict cache directory: %w", err)
		}
	}
	return nil
}

// lockDir takes an exclusive flock on root/lock, so two Caches (in this
// process or another) never sweep each other's entries.
func lockDir(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, lockName), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock cache directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by another cache: %w", root, err)
		}
		return nil, fmt.Errorf("lock cache directory: %w", err)
	}
	return f, nil
}

// wazeroDirName asks wazero which version directory it uses, by creating
// a cache in an empty probe directory and looking at what appeared.
func wazeroDirName(root string) (string, error) {
	probe, err := os.MkdirTemp(root, probePrefix)
	if err != nil {
		return "", fmt.Errorf("probe wazero layout: %w", err)
	}
	defer os.RemoveAll(probe)
	wz, err := wazero.NewCompilationCacheWithDir(probe)
	if err != nil {
		return "", fmt.Errorf("probe wazero layout: %w", err)
	}
	if err := wz.Close(context.Background()); err != nil {
		return "", fmt.Errorf("probe wazero layout: %w", err)
	}
	des, err := os.ReadDir(probe)
	if err != nil {
		return "", fmt.Errorf("probe wazero layout: %w", err)
	}
	if len(des) != 1 || !des[0].IsDir() || !strings.HasPrefix(des[0].Name(), wazeroDirPrefix) {
		return "", fmt.Errorf("probe wazero layout: unexpected contents %v", des)
	}
	return des[0].Name(), nil
}
