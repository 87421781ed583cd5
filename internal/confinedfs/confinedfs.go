//go:build linux

// Package confinedfs provides a filesystem for WASI guests run by wazero that
// is confined to one host directory, with chroot semantics.
//
// wazero's own DirFS is not a confinement: a guest can leave it with ".." and
// host symlinks are followed (https://github.com/tetratelabs/wazero/issues/2321).
// [FS] resolves every path with openat2(2) and RESOLVE_IN_ROOT relative to a
// file descriptor of the root directory, so ".." stops at the root and
// absolute or relative symlinks are resolved as if the root were "/", the way
// a container sees its rootfs. Magic links (/proc/self/root, /proc/self/fd/N,
// ...) are refused (ELOOP). Bind mounts inside the root are crossed normally.
//
// Operations that must not follow the last path component (Lstat, Unlink,
// Rmdir, Rename, Symlink, Link, Readlink, Mkdir) resolve the parent directory
// that way and then use the matching *at(2) system call on the final name,
// which is a single component.
//
// The package is Linux only and needs openat2(2) (Linux 5.6 or later); [New]
// fails rather than fall back to an unconfined implementation.
package confinedfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// FS is an [experimentalsys.FS] confined to a host directory. Mount it as the
// guest's "/" with sysfs.FSConfig.WithSysFSMount(fsys, "/").
//
// FS is safe for concurrent use. The files it opens are not: like wazero's
// own files, each must be used by one goroutine at a time.
type FS struct {
	// UnimplementedFS makes methods added to experimentalsys.FS in later
	// wazero versions return ENOSYS, as wazero recommends.
	experimentalsys.UnimplementedFS

	root     string
	readOnly bool

	mu     sync.RWMutex
	rootFd int // O_PATH|O_DIRECTORY descriptor of root; -1 once closed
}

var _ experimentalsys.FS = (*FS)(nil)

// Option configures [New].
type Option func(*options)

type options struct {
	readOnly bool
}

// ReadOnly makes every mutating operation return [experimentalsys.EROFS],
// including OpenFile with write access, O_CREAT or O_TRUNC, and Utimens on
// files it opened.
func ReadOnly() Option {
	return func(o *options) { o.readOnly = true }
}

// New returns an FS confined to the host directory root. root itself is
// resolved normally on the host, as it is trusted configuration. New fails
// if root is not a directory or if the kernel does not support openat2(2).
// Release the directory descriptor with [FS.Close].
func New(root string, opts ...Option) (*FS, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if root == "" {
		return nil, errors.New("confinedfs: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("confinedfs: root %q: %w", root, err)
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("confinedfs: open root %q: %w", abs, err)
	}
	// Prove that confined resolution works here and now, rather than on the
	// guest's first access.
	probe, err := openat2(fd, ".", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.ENOSYS) {
			return nil, fmt.Errorf("confinedfs: openat2(2) is not available (needs Linux >= 5.6, and not blocked by seccomp); refusing to serve %q without confinement: %w", abs, err)
		}
		return nil, fmt.Errorf("confinedfs: openat2(2) RESOLVE_IN_ROOT on %q: %w", abs, err)
	}
	_ = unix.Close(probe)
	return &FS{root: abs, readOnly: o.readOnly, rootFd: fd}, nil
}

// String returns the absolute host path of the root directory.
func (f *FS) String() string { return f.root }

// Close releases the root directory descriptor. Later operations on f fail
// with EBADF; files already opened stay usable. Close is idempotent.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rootFd < 0 {
		return nil
	}
	err := unix.Close(f.rootFd)
	f.rootFd = -1
	if err != nil {
		return fmt.Errorf("confinedfs: close root %q: %w", f.root, err)
	}
	return nil
}

// acquire read-locks f and returns the root descriptor, or EBADF when f is
// closed. The caller must call f.mu.RUnlock when acquire succeeded.
func (f *FS) acquire() (int, experimentalsys.Errno) {
	f.mu.RLock()
	if f.rootFd < 0 {
		f.mu.RUnlock()
		return -1, experimentalsys.EBADF
	}
	return f.rootFd, 0
}

// resolveFlags confine resolution to the root. RESOLVE_NO_XDEV is left out
// on purpose: bind mounts inside the root are legitimate.
const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// maxRetries bounds retries of openat2 on EAGAIN, which RESOLVE_IN_ROOT
// returns when a concurrent rename or mount could have affected "..".
const maxRetries = 64

// openat2 opens p below dirfd with confined resolution. mode is only used
// with O_CREAT (openat2 rejects a mode otherwise).
func openat2(dirfd int, p string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, p, &how)
		if err == unix.EINTR || (err == unix.EAGAIN && i < maxRetries) {
			continue
		}
		return fd, err
	}
}

// clean maps the empty path, which wazero may use for the mount point, to ".".
func clean(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// withPath resolves p (following symlinks, confined) to an O_PATH descriptor
// and calls fn with it.
func (f *FS) withPath(p string, fn func(fd int) error) experimentalsys.Errno {
	root, errno := f.acquire()
	if errno != 0 {
		return errno
	}
	defer f.mu.RUnlock()
	fd, err := openat2(root, clean(p), unix.O_PATH, 0)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(fd)
	return experimentalsys.UnwrapOSError(fn(fd))
}

// split is a path divided into its parent directory and final component.
type split struct {
	dir   string // parent directory, resolved with openat2
	name  string // final component; "" when the path names "/", "." or ".."
	slash bool   // the path ended with "/"
}

func splitPath(p string) split {
	trimmed := strings.TrimRight(p, "/")
	if trimmed == "" { // "", "/", "//"...
		return split{dir: clean(p)}
	}
	s := split{dir: ".", name: trimmed, slash: len(trimmed) != len(p)}
	if i := strings.LastIndexByte(trimmed, '/'); i >= 0 {
		s.dir, s.name = trimmed[:i], trimmed[i+1:]
		if s.dir == "" {
			s.dir = "/"
		}
	}
	if s.name == "." || s.name == ".." {
		// Nothing to operate on without following: the whole path is a
		// directory, resolved like any other.
		s.dir, s.name = trimmed, ""
	}
	return s
}

// openParent opens the parent directory of s below root, confined.
func openParent(root int, s split) (int, error) {
	return openat2(root, s.dir, unix.O_PATH|unix.O_DIRECTORY, 0)
}

// withParent resolves the parent of s and calls fn with it. s.name must not
// be empty.
func (f *FS) withParent(s split, fn func(dirfd int) error) experimentalsys.Errno {
	root, errno := f.acquire()
	if errno != 0 {
		return errno
	}
	defer f.mu.RUnlock()
	dirfd, err := openParent(root, s)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(dirfd)
	return experimentalsys.UnwrapOSError(fn(dirfd))
}

// checkSlash reproduces what Linux does for a trailing slash on a final
// component that is not followed: it must name an existing directory
// (ENOENT or ENOTDIR otherwise; EEXIST for a non-directory when creating).
// It never follows the name, so a symlink does not count as a directory.
func checkSlash(dirfd int, name string, creating bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if creating {
			return unix.EEXIST
		}
		return unix.ENOTDIR
	}
	return nil
}

// OpenFile implements [experimentalsys.FS.OpenFile]. Symlinks, including the
// final component unless O_NOFOLLOW, are resolved inside the root.
func (f *FS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	if f.readOnly {
		if flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) != 0 {
			if flag&experimentalsys.O_DIRECTORY != 0 {
				return nil, experimentalsys.EISDIR
			}
			return nil, experimentalsys.EROFS
		}
		if flag&(experimentalsys.O_CREAT|experimentalsys.O_TRUNC) != 0 {
			return nil, experimentalsys.EROFS
		}
	}
	root, errno := f.acquire()
	if errno != 0 {
		return nil, errno
	}
	fd, err := openat2(root, clean(path), toUnixFlags(flag), unixMode(perm))
	f.mu.RUnlock()
	if err != nil {
		return nil, experimentalsys.UnwrapOSError(err)
	}
	return newFile(fd, flag, f.readOnly)
}

// Lstat implements [experimentalsys.FS.Lstat].
func (f *FS) Lstat(path string) (sys.Stat_t, experimentalsys.Errno) {
	s := splitPath(path)
	if s.name == "" || s.slash {
		// A directory, or a trailing slash which makes Linux follow.
		return f.Stat(path)
	}
	var st unix.Stat_t
	errno := f.withParent(s, func(dirfd int) error {
		return unix.Fstatat(dirfd, s.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return toStat(&st), 0
}

// Stat implements [experimentalsys.FS.Stat]. Symlinks are resolved inside the
// root.
func (f *FS) Stat(path string) (sys.Stat_t, experimentalsys.Errno) {
	var st unix.Stat_t
	if errno := f.withPath(path, func(fd int) error { return unix.Fstat(fd, &st) }); errno != 0 {
		return sys.Stat_t{}, errno
	}
	return toStat(&st), 0
}

// Mkdir implements [experimentalsys.FS.Mkdir].
func (f *FS) Mkdir(path string, perm fs.FileMode) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	s := splitPath(path)
	if s.name == "" {
		if _, errno := f.Stat(path); errno != 0 {
			return errno
		}
		return experimentalsys.EEXIST
	}
	errno := f.withParent(s, func(dirfd int) error {
		return unix.Mkdirat(dirfd, s.name, unixMode(perm))
	})
	if errno == experimentalsys.ENOTDIR { // same as wazero's DirFS
		errno = experimentalsys.ENOENT
	}
	return errno
}

// Chmod implements [experimentalsys.FS.Chmod]. Symlinks are resolved inside
// the root.
func (f *FS) Chmod(path string, perm fs.FileMode) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	mode := unixMode(perm)
	return f.withPath(path, func(fd int) error {
		// fchmodat2(2) (Linux 6.6) can chmod an O_PATH descriptor.
		err := unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
		if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
			// Older kernels: the /proc magic link designates exactly the
			// inode already resolved inside the root.
			err = unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode)
		}
		return err
	})
}

// Rename implements [experimentalsys.FS.Rename]. Neither final component is
// followed.
func (f *FS) Rename(from, to string) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	sf, st := splitPath(from), splitPath(to)
	if sf.name == "" || st.name == "" {
		return experimentalsys.EINVAL
	}
	root, errno := f.acquire()
	if errno != 0 {
		return errno
	}
	defer f.mu.RUnlock()
	fromDir, err := openParent(root, sf)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(fromDir)
	toDir, err := openParent(root, st)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(toDir)
	if sf.slash || st.slash { // only directories may be renamed with a slash
		if err := checkSlash(fromDir, sf.name, false); err != nil {
			return experimentalsys.UnwrapOSError(err)
		}
	}
	return experimentalsys.UnwrapOSError(unix.Renameat(fromDir, sf.name, toDir, st.name))
}

// Rmdir implements [experimentalsys.FS.Rmdir].
func (f *FS) Rmdir(path string) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	s := splitPath(path)
	if s.name == "" {
		return experimentalsys.EINVAL // like rmdir("."); also protects the root
	}
	return f.withParent(s, func(dirfd int) error {
		return unix.Unlinkat(dirfd, s.name, unix.AT_REMOVEDIR)
	})
}

// Unlink implements [experimentalsys.FS.Unlink]. A symlink is removed, not
// its target.
func (f *FS) Unlink(path string) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	s := splitPath(path)
	if s.name == "" {
		return experimentalsys.EISDIR
	}
	return f.withParent(s, func(dirfd int) error {
		if s.slash {
			if err := checkSlash(dirfd, s.name, false); err != nil {
				return err
			}
		}
		return unix.Unlinkat(dirfd, s.name, 0)
	})
}

// Link implements [experimentalsys.FS.Link]. Both paths are inside the root;
// a final symlink in oldPath is linked itself, not followed.
func (f *FS) Link(oldPath, newPath string) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	so, sn := splitPath(oldPath), splitPath(newPath)
	switch {
	case so.name == "":
		return experimentalsys.EPERM // hard links to directories
	case sn.name == "":
		return experimentalsys.EEXIST
	}
	root, errno := f.acquire()
	if errno != 0 {
		return errno
	}
	defer f.mu.RUnlock()
	oldDir, err := openParent(root, so)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(oldDir)
	newDir, err := openParent(root, sn)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	defer unix.Close(newDir)
	if so.slash {
		if err := checkSlash(oldDir, so.name, false); err != nil {
			return experimentalsys.UnwrapOSError(err)
		}
	}
	if sn.slash {
		if err := checkSlash(newDir, sn.name, true); err != nil {
			return experimentalsys.UnwrapOSError(err)
		}
	}
	// Flags 0, never AT_SYMLINK_FOLLOW: the kernel would follow unconfined.
	return experimentalsys.UnwrapOSError(unix.Linkat(oldDir, so.name, newDir, sn.name, 0))
}

// Symlink implements [experimentalsys.FS.Symlink]. oldPath is stored as is.
// An absolute oldPath is refused with EPERM, as wazero's DirFS and the
// WASI filesystem's path resolution rules do: the link would be a host
// file, and in a bind-mounted volume the host, another container or a
// later pod would follow "/..." on their own root (docs/RATIONALE.md,
// "Why are absolute symlink targets refused?").
func (f *FS) Symlink(oldPath, linkName string) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	if path.IsAbs(oldPath) {
		return experimentalsys.EPERM
	}
	s := splitPath(linkName)
	if s.name == "" {
		return experimentalsys.EEXIST
	}
	return f.withParent(s, func(dirfd int) error {
		if s.slash {
			if err := checkSlash(dirfd, s.name, true); err != nil {
				return err
			}
		}
		return unix.Symlinkat(oldPath, dirfd, s.name)
	})
}

// Readlink implements [experimentalsys.FS.Readlink]. The link text is
// returned unchanged.
func (f *FS) Readlink(path string) (string, experimentalsys.Errno) {
	s := splitPath(path)
	if s.name == "" {
		return "", experimentalsys.EINVAL
	}
	var target string
	errno := f.withParent(s, func(dirfd int) error {
		if s.slash {
			if err := checkSlash(dirfd, s.name, false); err != nil {
				return err
			}
		}
		for size := 256; ; size *= 2 {
			buf := make([]byte, size)
			n, err := unix.Readlinkat(dirfd, s.name, buf)
			if err != nil {
				return err
			}
			if n < size {
				target = string(buf[:n])
				return nil
			}
		}
	})
	return target, errno
}

// Utimens implements [experimentalsys.FS.Utimens]. As documented there, a
// symlink is followed (inside the root) and its target is updated.
func (f *FS) Utimens(path string, atim, mtim int64) experimentalsys.Errno {
	if f.readOnly {
		return experimentalsys.EROFS
	}
	return f.withPath(path, func(fd int) error { return utimens(fd, atim, mtim) })
}

// utimens sets the times of the file behind fd, which may be O_PATH.
func utimens(fd int, atim, mtim int64) error {
	ts := func(t int64) unix.Timespec {
		if t == experimentalsys.UTIME_OMIT {
			return unix.Timespec{Nsec: unix.UTIME_OMIT}
		}
		return unix.NsecToTimespec(t)
	}
	return unix.UtimesNanoAt(fd, "", []unix.Timespec{ts(atim), ts(mtim)}, unix.AT_EMPTY_PATH)
}

// toUnixFlags converts wazero open flags to open(2) flags.
func toUnixFlags(flag experimentalsys.Oflag) int {
	var o int
	switch flag & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = unix.O_RDWR
	case experimentalsys.O_WRONLY:
		o = unix.O_WRONLY
	}
	for _, m := range [...]struct {
		w experimentalsys.Oflag
		u int
	}{
		{experimentalsys.O_APPEND, unix.O_APPEND},
		{experimentalsys.O_CREAT, unix.O_CREAT},
		{experimentalsys.O_DIRECTORY, unix.O_DIRECTORY},
		{experimentalsys.O_DSYNC, unix.O_DSYNC},
		{experimentalsys.O_EXCL, unix.O_EXCL},
		{experimentalsys.O_NOFOLLOW, unix.O_NOFOLLOW},
		{experimentalsys.O_NONBLOCK, unix.O_NONBLOCK},
		{experimentalsys.O_RSYNC, unix.O_RSYNC},
		{experimentalsys.O_SYNC, unix.O_SYNC},
		{experimentalsys.O_TRUNC, unix.O_TRUNC},
	} {
		if flag&m.w != 0 {
			o |= m.u
		}
	}
	return o | unix.O_NOCTTY
}

// unixMode converts permission and special bits of perm to a mode_t.
func unixMode(perm fs.FileMode) uint32 {
	m := uint32(perm.Perm())
	if perm&fs.ModeSetuid != 0 {
		m |= unix.S_ISUID
	}
	if perm&fs.ModeSetgid != 0 {
		m |= unix.S_ISGID
	}
	if perm&fs.ModeSticky != 0 {
		m |= unix.S_ISVTX
	}
	return m
}

// fileType converts the S_IFMT bits of mode to fs.FileMode type bits.
func fileType(mode uint32) fs.FileMode {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}

func toStat(st *unix.Stat_t) sys.Stat_t {
	mode := fileType(st.Mode) | fs.FileMode(st.Mode&0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return sys.Stat_t{
		Dev:   st.Dev,
		Ino:   st.Ino,
		Mode:  mode,
		Nlink: uint64(st.Nlink),
		Size:  st.Size,
		Atim:  st.Atim.Nano(),
		Mtim:  st.Mtim.Nano(),
		Ctim:  st.Ctim.Nano(),
	}
}
