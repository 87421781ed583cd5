//go:build linux

package confinedfs

import (
	"encoding/binary"
	"io"
	"io/fs"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// file is an experimentalsys.File over a raw descriptor. It uses system
// calls directly instead of *os.File so that O_APPEND can be toggled with
// fcntl(2) and non-blocking descriptors return EAGAIN instead of parking in
// Go's poller; it never needs to reopen anything by path.
//
// It is not safe for concurrent use, as wazero uses a file from one goroutine.
type file struct {
	experimentalsys.UnimplementedFile

	fd       int
	flag     experimentalsys.Oflag // O_APPEND and O_NONBLOCK track Set*
	readOnly bool                  // opened through a ReadOnly FS
	closed   bool

	// From fstat at open: these never change while the file is open.
	isDir bool
	dev   uint64
	ino   sys.Inode

	// Directory reading state: dirBuf[dirPos:dirEnd] are unparsed records
	// from getdents64(2).
	dirBuf         []byte
	dirPos, dirEnd int
}

var _ experimentalsys.PollableFile = (*file)(nil)

func newFile(fd int, flag experimentalsys.Oflag, readOnly bool) (experimentalsys.File, experimentalsys.Errno) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, experimentalsys.UnwrapOSError(err)
	}
	return &file{
		fd:       fd,
		flag:     flag,
		readOnly: readOnly,
		isDir:    st.Mode&unix.S_IFMT == unix.S_IFDIR,
		dev:      st.Dev,
		ino:      st.Ino,
	}, 0
}

// Dev implements experimentalsys.File.
func (f *file) Dev() (uint64, experimentalsys.Errno) { return f.dev, 0 }

// Ino implements experimentalsys.File.
func (f *file) Ino() (sys.Inode, experimentalsys.Errno) { return f.ino, 0 }

// IsDir implements experimentalsys.File.
func (f *file) IsDir() (bool, experimentalsys.Errno) { return f.isDir, 0 }

// IsAppend implements experimentalsys.File.
func (f *file) IsAppend() bool { return f.flag&experimentalsys.O_APPEND != 0 }

// SetAppend implements experimentalsys.File. Linux lets fcntl(2) change
// O_APPEND, so unlike wazero's osFile nothing is reopened.
func (f *file) SetAppend(enable bool) experimentalsys.Errno {
	return f.setFlag(experimentalsys.O_APPEND, unix.O_APPEND, enable)
}

// IsNonblock implements experimentalsys.PollableFile.
func (f *file) IsNonblock() bool { return f.flag&experimentalsys.O_NONBLOCK != 0 }

// SetNonblock implements experimentalsys.PollableFile.
func (f *file) SetNonblock(enable bool) experimentalsys.Errno {
	return f.setFlag(experimentalsys.O_NONBLOCK, unix.O_NONBLOCK, enable)
}

func (f *file) setFlag(w experimentalsys.Oflag, u int, enable bool) experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	if enable {
		fl |= u
	} else {
		fl &^= u
	}
	if _, err = unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, fl); err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	if enable {
		f.flag |= w
	} else {
		f.flag &^= w
	}
	return 0
}

// Poll implements experimentalsys.Pollable. Only POLLIN is supported, like
// wazero's own files; a negative timeout blocks.
func (f *file) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	if f.closed {
		return false, experimentalsys.EBADF
	}
	if flag != experimentalsys.POLLIN {
		return false, experimentalsys.ENOTSUP
	}
	var ts *unix.Timespec
	if timeoutMillis >= 0 {
		t := unix.NsecToTimespec(int64(timeoutMillis) * 1e6)
		ts = &t
	}
	fds := []unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLIN}}
	n, err := unix.Ppoll(fds, ts, nil)
	return n > 0, experimentalsys.UnwrapOSError(err)
}

// Stat implements experimentalsys.File.
func (f *file) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if f.closed {
		return sys.Stat_t{}, experimentalsys.EBADF
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return sys.Stat_t{}, experimentalsys.UnwrapOSError(err)
	}
	return toStat(&st), 0
}

// Read implements experimentalsys.File. End of file is n == 0 with no error.
func (f *file) Read(buf []byte) (int, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case f.isDir:
		return 0, experimentalsys.EISDIR
	case len(buf) == 0:
		return 0, 0
	}
	return result(retry(func() (int, error) { return unix.Read(f.fd, buf) }))
}

// Pread implements experimentalsys.File.
func (f *file) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case f.isDir:
		return 0, experimentalsys.EISDIR
	case off < 0:
		return 0, experimentalsys.EINVAL
	case len(buf) == 0:
		return 0, 0
	}
	return result(retry(func() (int, error) { return unix.Pread(f.fd, buf, off) }))
}

// Write implements experimentalsys.File. Blocking files are written fully
// unless an error occurs. A directory gives EISDIR, as wazero's own files
// do (its interface documents EBADF, Linux too; a guest sees what
// `wazero run` shows it: internal/testing/wasidiff).
func (f *file) Write(buf []byte) (int, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case f.isDir:
		return 0, experimentalsys.EISDIR
	}
	return f.writeAll(buf, func(b []byte, _ int64) (int, error) { return unix.Write(f.fd, b) }, 0)
}

// Pwrite implements experimentalsys.File. On a file in append mode it
// fails with EIO and writes nothing, as wazero's own files do (Go's
// os.File.WriteAt refuses append mode); Linux would append regardless of
// off, which a caller asking for an offset does not expect
// (docs/RATIONALE.md, "Why does pwrite fail on an append-mode file?").
func (f *file) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case f.isDir:
		return 0, experimentalsys.EISDIR
	case off < 0:
		return 0, experimentalsys.EINVAL
	case len(buf) == 0:
		return 0, 0
	case f.IsAppend():
		return 0, experimentalsys.EIO
	}
	return f.writeAll(buf, func(b []byte, off int64) (int, error) { return unix.Pwrite(f.fd, b, off) }, off)
}

func (f *file) writeAll(buf []byte, write func([]byte, int64) (int, error), off int64) (int, experimentalsys.Errno) {
	n := 0
	for n < len(buf) {
		m, err := retry(func() (int, error) { return write(buf[n:], off+int64(n)) })
		if m > 0 {
			n += m
		}
		if err != nil {
			return n, experimentalsys.UnwrapOSError(err)
		}
		if m == 0 || f.IsNonblock() {
			break
		}
	}
	return n, 0
}

// Truncate implements experimentalsys.File.
func (f *file) Truncate(size int64) experimentalsys.Errno {
	switch {
	case f.closed:
		return experimentalsys.EBADF
	case f.isDir:
		return experimentalsys.EISDIR
	case size < 0:
		return experimentalsys.EINVAL
	}
	return experimentalsys.UnwrapOSError(unix.Ftruncate(f.fd, size))
}

// offset is int64. Seek is declared with it because go vet's stdmethods check
// wants every Seek(int64, int) to return error (io.Seeker), while
// experimentalsys.File requires an Errno; the alias is the same type, so the
// interface is still implemented.
type offset = int64

// Seek implements experimentalsys.File. A directory only supports rewinding
// with Seek(0, io.SeekStart), after which Readdir sees its current entries.
func (f *file) Seek(off offset, whence int) (offset, experimentalsys.Errno) {
	switch {
	case f.closed:
		return 0, experimentalsys.EBADF
	case uint(whence) > io.SeekEnd:
		return 0, experimentalsys.EINVAL
	case f.isDir && (off != 0 || whence != io.SeekStart):
		return 0, experimentalsys.EISDIR
	}
	n, err := unix.Seek(f.fd, off, whence)
	if err != nil {
		return 0, experimentalsys.UnwrapOSError(err)
	}
	f.dirPos, f.dirEnd = 0, 0
	return n, 0
}

// Readdir implements experimentalsys.File. "." and ".." are omitted, as
// wazero synthesizes them. Fewer than n entries means the end was reached.
func (f *file) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if f.closed || !f.isDir {
		return nil, experimentalsys.EBADF
	}
	var dirents []experimentalsys.Dirent
	for n <= 0 || len(dirents) < n {
		if f.dirPos >= f.dirEnd {
			if f.dirBuf == nil {
				f.dirBuf = make([]byte, 8192)
			}
			m, err := retry(func() (int, error) { return unix.Getdents(f.fd, f.dirBuf) })
			if err != nil {
				return dirents, experimentalsys.UnwrapOSError(err)
			}
			if m <= 0 {
				break // end of directory
			}
			f.dirPos, f.dirEnd = 0, m
		}
		// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen;
		// u8 d_type; char d_name[]; }
		rec := f.dirBuf[f.dirPos:f.dirEnd]
		if len(rec) < 19 {
			return dirents, experimentalsys.EIO
		}
		reclen := int(binary.NativeEndian.Uint16(rec[16:]))
		if reclen < 19 || reclen > len(rec) {
			return dirents, experimentalsys.EIO
		}
		f.dirPos += reclen
		name := rec[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		if s := string(name); s != "." && s != ".." {
			d := experimentalsys.Dirent{Ino: binary.NativeEndian.Uint64(rec), Name: s}
			var ok bool
			if d.Type, ok = f.direntType(rec[18], s); ok {
				dirents = append(dirents, d)
			}
		}
	}
	return dirents, 0
}

// direntType converts d_type, asking the filesystem when it does not say.
// ok is false when the entry vanished meanwhile.
func (f *file) direntType(dtype byte, name string) (typ fs.FileMode, ok bool) {
	switch dtype {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	var st unix.Stat_t
	// A single component relative to this directory, never followed.
	if err := unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fs.ModeIrregular, err != unix.ENOENT
	}
	return fileType(st.Mode), true
}

// Sync implements experimentalsys.File.
func (f *file) Sync() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return experimentalsys.UnwrapOSError(unix.Fsync(f.fd))
}

// Datasync implements experimentalsys.File.
func (f *file) Datasync() experimentalsys.Errno {
	if f.closed {
		return experimentalsys.EBADF
	}
	return experimentalsys.UnwrapOSError(unix.Fdatasync(f.fd))
}

// Utimens implements experimentalsys.File.
func (f *file) Utimens(atim, mtim int64) experimentalsys.Errno {
	switch {
	case f.closed:
		return experimentalsys.EBADF
	case f.readOnly:
		return experimentalsys.EROFS
	}
	return experimentalsys.UnwrapOSError(utimens(f.fd, atim, mtim))
}

// Close implements experimentalsys.File. Closing twice is not an error.
func (f *file) Close() experimentalsys.Errno {
	if f.closed {
		return 0
	}
	f.closed = true
	f.dirBuf = nil
	return experimentalsys.UnwrapOSError(unix.Close(f.fd))
}

// retry calls fn until it does not fail with EINTR.
func retry(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != unix.EINTR {
			return n, err
		}
	}
}

func result(n int, err error) (int, experimentalsys.Errno) {
	if n < 0 {
		n = 0
	}
	return n, experimentalsys.UnwrapOSError(err)
}
