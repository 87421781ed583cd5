//go:build linux

package compcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// fileID is what changes when a file is rewritten: a rename gives another
// inode; a write in place another size, mtime or ctime.
type fileID struct {
	ino, size, mtime, ctime int64
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{
		ino:   int64(st.Ino),
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
	}
}

// isEntryName reports whether name has the form of a wazero cache file:
// hex of a sha256 key, lower case (internal/filecache: fileCache.path).
func isEntryName(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// errNotRegular: a cache file must be a regular file owned by us.
var errNotRegular = errors.New("not a regular file owned by this user")

// digestFile hashes the regular file at path (symlinks are not followed)
// and returns its sha256, and its identity, which must not change while it
// is read.
func digestFile(path string) (sum string, id fileID, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", fileID{}, err
	}
	defer f.Close()
	var before, after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &before); err != nil {
		return "", fileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if before.Mode&unix.S_IFMT != unix.S_IFREG || int(before.Uid) != os.Geteuid() {
		return "", fileID{}, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", fileID{}, fmt.Errorf("read %s: %w", path, err)
	}
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return "", fileID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	if id = idOf(&before); id != idOf(&after) || n != before.Size {
		return "", fileID{}, fmt.Errorf("%s changed while being read", path)
	}
	return hex.EncodeToString(h.Sum(nil)), id, nil
}

// statID returns the identity of the file at path without following a
// symlink.
func statID(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return fileID{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fileID{}, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return idOf(&st), nil
}

// removeFile removes path (a file or a directory tree); a missing path is
// not an error.
func removeFile(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// lruOrder returns the names of x's entries, least recently used first
// (ties broken by name, so eviction is deterministic).
func lruOrder(x *index) []string {
	names := make([]string, 0, len(x.Entries))
	for n := range x.Entries {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := x.Entries[names[i]], x.Entries[names[j]]
		if a.Used != b.Used {
			return a.Used < b.Used
		}
		return names[i] < names[j]
	})
	return names
}

// evict removes entries of x from codeDir, least recently used first,
// until they total at most maxBytes. It returns the names removed.
func evict(x *index, codeDir string, maxBytes int64) ([]string, error) {
	total := x.totalBytes()
	if total <= maxBytes {
		return nil, nil // nothing to order
	}
	var removed []string
	for _, name := range lruOrder(x) {
		if total <= maxBytes {
			break
		}
		if err := removeFile(filepath.Join(codeDir, name)); err != nil {
			return removed, err
		}
		total -= x.Entries[name].Size
		delete(x.Entries, name)
		removed = append(removed, name)
	}
	return removed, nil
}
