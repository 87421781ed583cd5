// Package devfs is the /dev a WASI module sees: null, zero, random and
// urandom, synthesized in memory. No host device node is ever opened, so it
// works the same in the daemon and in a confined worker with an empty root.
//
// null and zero are readable and writable (writes are discarded); random
// and urandom are read-only and read from crypto/rand. The directory itself
// is read-only: creating, removing or renaming anything in it fails with
// EROFS, as in a container whose /dev is a read-only mount.
package devfs

import (
	"crypto/rand"
	"io"
	"io/fs"
	"sort"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// device is one character device of the FS.
type device struct {
	ino      sys.Inode
	writable bool
	read     func(buf []byte) int // fills buf; returns the count (0: end of file)
}

// Linux's device numbers (major 1: memory devices), for stat's sake only.
var devices = map[string]device{
	"null":    {ino: 3, writable: true, read: func([]byte) int { return 0 }},
	"zero":    {ino: 5, writable: true, read: func(b []byte) int { clear(b); return len(b) }},
	"random":  {ino: 8, read: readRandom},
	"urandom": {ino: 9, read: readRandom},
}

func readRandom(b []byte) int {
	n, _ := io.ReadFull(rand.Reader, b)
	return n
}

const (
	dirIno = 1
	devNum = 0x6465_7666 // "devf": st_dev of every file here
)

// FS is the synthesized /dev. It holds no state: one value serves any
// number of modules.
type FS struct {
	experimentalsys.UnimplementedFS
}

// New returns the /dev filesystem.
func New() *FS { return &FS{} }

var _ experimentalsys.FS = (*FS)(nil)

// String names the FS in wazero's messages.
func (*FS) String() string { return "devfs" }

// lookup resolves a path inside /dev: "" or "." is the directory; a device
// name is a device. Anything else does not exist; a device followed by a
// slash is not a directory.
func lookup(p string) (name string, isDir bool, errno experimentalsys.Errno) {
	p = strings.TrimPrefix(p, "/")
	switch p {
	case "", ".", "..", "./":
		return "", true, 0
	}
	name, _, slash := strings.Cut(p, "/")
	if _, ok := devices[name]; !ok {
		return "", false, experimentalsys.ENOENT
	}
	if slash { // "null/", "null/x": a device is not a directory
		return "", false, experimentalsys.ENOTDIR
	}
	return name, false, 0
}

func dirStat() sys.Stat_t {
	return sys.Stat_t{Dev: devNum, Ino: dirIno, Mode: fs.ModeDir | 0o755, Nlink: 2}
}

func devStat(name string) sys.Stat_t {
	d := devices[name]
	mode := fs.ModeDevice | fs.ModeCharDevice | 0o444
	if d.writable {
		mode |= 0o222
	}
	return sys.Stat_t{Dev: devNum, Ino: d.ino, Mode: mode, Nlink: 1}
}

// OpenFile implements [experimentalsys.FS.OpenFile].
func (*FS) OpenFile(p string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	name, isDir, errno := lookup(p)
	if errno != 0 {
		if errno == experimentalsys.ENOENT && flag&experimentalsys.O_CREAT != 0 {
			return nil, experimentalsys.EROFS
		}
		return nil, errno
	}
	write := flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) != 0
	if isDir {
		if write {
			return nil, experimentalsys.EISDIR
		}
		if flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0 {
			return nil, experimentalsys.EEXIST
		}
		return &dirFile{}, 0
	}
	if flag&experimentalsys.O_DIRECTORY != 0 {
		return nil, experimentalsys.ENOTDIR
	}
	if flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0 {
		return nil, experimentalsys.EEXIST
	}
	d := devices[name]
	if write && !d.writable {
		return nil, experimentalsys.EACCES
	}
	return &devFile{name: name, dev: d, flag: flag}, 0
}

// Stat implements [experimentalsys.FS.Stat].
func (*FS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	name, isDir, errno := lookup(p)
	switch {
	case errno != 0:
		return sys.Stat_t{}, errno
	case isDir:
		return dirStat(), 0
	}
	return devStat(name), 0
}

// Lstat implements [experimentalsys.FS.Lstat]: nothing here is a symlink.
func (f *FS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) { return f.Stat(p) }

// Readlink implements [experimentalsys.FS.Readlink]: nothing here is a
// symlink.
func (*FS) Readlink(p string) (string, experimentalsys.Errno) {
	if _, _, errno := lookup(p); errno != 0 {
		return "", errno
	}
	return "", experimentalsys.EINVAL
}

// The directory is read-only.

func (*FS) Mkdir(p string, _ fs.FileMode) experimentalsys.Errno {
	if _, _, errno := lookup(p); errno == 0 {
		return experimentalsys.EEXIST
	}
	return experimentalsys.EROFS
}
func (*FS) Chmod(string, fs.FileMode) experimentalsys.Errno    { return experimentalsys.EROFS }
func (*FS) Rename(string, string) experimentalsys.Errno        { return experimentalsys.EROFS }
func (*FS) Rmdir(string) experimentalsys.Errno                 { return experimentalsys.EROFS }
func (*FS) Link(string, string) experimentalsys.Errno          { return experimentalsys.EROFS }
func (*FS) Symlink(string, string) experimentalsys.Errno       { return experimentalsys.EROFS }
func (*FS) Unlink(string) experimentalsys.Errno                { return experimentalsys.EROFS }
func (*FS) Utimens(string, int64, int64) experimentalsys.Errno { return experimentalsys.EROFS }

// offset is int64: go vet's stdmethods check wants every Seek(int64, int)
// to return error (io.Seeker); experimentalsys.File needs an Errno, and the
// alias is the same type.
type offset = int64

// dirFile is an open /dev.
type dirFile struct {
	experimentalsys.UnimplementedFile
	pos    int // entries already returned by Readdir
	closed bool
}

func (d *dirFile) Dev() (uint64, experimentalsys.Errno)    { return devNum, 0 }
func (d *dirFile) Ino() (sys.Inode, experimentalsys.Errno) { return dirIno, 0 }
func (d *dirFile) IsDir() (bool, experimentalsys.Errno)    { return true, 0 }
func (d *dirFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if d.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	return dirStat(), 0
}

func (d *dirFile) Read([]byte) (int, experimentalsys.Errno)         { return 0, experimentalsys.EISDIR }
func (d *dirFile) Pread([]byte, int64) (int, experimentalsys.Errno) { return 0, experimentalsys.EISDIR }
func (d *dirFile) Write([]byte) (int, experimentalsys.Errno)        { return 0, experimentalsys.EBADF }
func (d *dirFile) Pwrite([]byte, int64) (int, experimentalsys.Errno) {
	return 0, experimentalsys.EISDIR
}
func (d *dirFile) Truncate(int64) experimentalsys.Errno { return experimentalsys.EISDIR }
func (d *dirFile) Utimens(int64, int64) experimentalsys.Errno {
	return experimentalsys.EROFS
}

// Seek only rewinds, as for any directory.
func (d *dirFile) Seek(off offset, whence int) (offset, experimentalsys.Errno) {
	if d.closed {
		return 0, experimentalsys.EBADF
	}
	if off != 0 || whence != io.SeekStart {
		return 0, experimentalsys.EISDIR
	}
	d.pos = 0
	return 0, 0
}

// Readdir returns the devices in name order.
func (d *dirFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if d.closed {
		return nil, experimentalsys.EBADF
	}
	names := make([]string, 0, len(devices))
	for name := range devices {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []experimentalsys.Dirent
	for d.pos < len(names) && (n <= 0 || len(out) < n) {
		name := names[d.pos]
		out = append(out, experimentalsys.Dirent{Name: name, Ino: devices[name].ino, Type: fs.ModeDevice | fs.ModeCharDevice})
		d.pos++
	}
	return out, 0
}

func (d *dirFile) Close() experimentalsys.Errno { d.closed = true; return 0 }

// devFile is an open device.
type devFile struct {
	experimentalsys.UnimplementedFile
	name   string
	dev    device
	flag   experimentalsys.Oflag
	closed bool
}

var _ experimentalsys.File = (*devFile)(nil)

func (f *devFile) Dev() (uint64, experimentalsys.Errno)    { return devNum, 0 }
func (f *devFile) Ino() (sys.Inode, experimentalsys.Errno) { return f.dev.ino, 0 }
func (f *devFile) IsDir() (bool, experimentalsys.Errno)    { return false, 0 }
func (f *devFile) IsAppend() bool                          { return f.flag&experimentalsys.O_APPEND != 0 }
func (f *devFile) SetAppend(enable bool) experimentalsys.Errno {
	if enable {
		f.flag |= experimentalsys.O_APPEND
	} else {
		f.flag &^= experimentalsys.O_APPEND
	}
	return 0
}

func (f *devFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if f.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	return devStat(f.name), 0
}

func (f *devFile) readable() experimentalsys.Errno {
	switch {
	case f.closed:
		return experimentalsys.EBADF
	case f.flag&experimentalsys.O_WRONLY != 0:
		return experimentalsys.EBADF
	}
	return 0
}

func (f *devFile) writable() experimentalsys.Errno {
	switch {
	case f.closed:
		return experimentalsys.EBADF
	case f.flag&(experimentalsys.O_WRONLY|experimentalsys.O_RDWR) == 0:
		return experimentalsys.EBADF
	}
	return 0
}

func (f *devFile) Read(buf []byte) (int, experimentalsys.Errno) {
	if errno := f.readable(); errno != 0 {
		return 0, errno
	}
	return f.dev.read(buf), 0
}

func (f *devFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	return f.Read(buf)
}

func (f *devFile) Write(buf []byte) (int, experimentalsys.Errno) {
	if errno := f.writable(); errno != 0 {
		return 0, errno
	}
	return len(buf), 0
}

func (f *devFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if off < 0 {
		return 0, experimentalsys.EINVAL
	}
	return f.Write(buf)
}

// Seek succeeds and stays at 0, as lseek(2) on Linux's memory devices.
func (f *devFile) Seek(_ offset, whence int) (offset, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case uint(whence) > io.SeekEnd:
		return 0, experimentalsys.EINVAL
	}
	return 0, 0
}

// Truncate fails with EINVAL, as ftruncate(2) of a character device does
// on Linux.
func (f *devFile) Truncate(int64) experimentalsys.Errno { return experimentalsys.EINVAL }
func (f *devFile) Sync() experimentalsys.Errno          { return 0 }
func (f *devFile) Datasync() experimentalsys.Errno      { return 0 }
func (f *devFile) Utimens(int64, int64) experimentalsys.Errno {
	return experimentalsys.EROFS
}

// Poll: a memory device is always ready.
func (f *devFile) Poll(experimentalsys.Pflag, int32) (bool, experimentalsys.Errno) { return true, 0 }

func (f *devFile) Close() experimentalsys.Errno { f.closed = true; return 0 }
