package stdio

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stdinReader reads a stdin fifo with the semantics of containerd's runc
// shim: a read waits until the client's writer has connected and sent
// something, EOF comes when that writer closes, and CloseIO means "no more
// input": what is still buffered in the fifo is read, then EOF. (Closing
// the fifo on CloseIO would lose that input.)
//
// A read of a fifo with no writer returns 0 bytes whether or not a writer
// ever connected. The read end reports POLLHUP only once a writer has come
// and gone since it was opened, so a 0-byte read is EOF only with POLLHUP;
// otherwise the read waits for readiness in Go's poller.
type stdinReader struct {
	f        *os.File // non-blocking, so waits go through Go's poller
	raw      syscall.RawConn
	closed   atomic.Bool // CloseIO was called
	released atomic.Bool // Close was called
}

func openStdin(path string) (*stdinReader, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if err := requireFifo(f); err != nil {
		f.Close()
		return nil, err
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &stdinReader{f: f, raw: raw}, nil
}

func requireFifo(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeNamedPipe == 0 {
		return errors.New("not a fifo")
	}
	return nil
}

func (r *stdinReader) Read(b []byte) (int, error) {
	if r.released.Load() {
		return 0, io.EOF
	}
	if r.closed.Load() {
		return r.drain(b)
	}
	var (
		n    int
		rerr error
		eof  bool
	)
	err := r.raw.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), b)
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EINTR:
			return false // wait for data
		case rerr != nil || n > 0:
			return true
		case writerGone(int(fd)):
			eof = true
			return true
		default:
			return false // no writer has connected yet: wait for one
		}
	})
	switch {
	case err != nil && r.closed.Load() && errors.Is(err, os.ErrDeadlineExceeded):
		return r.drain(b)
	case err != nil && (errors.Is(err, os.ErrClosed) || r.released.Load()):
		return 0, io.EOF
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case eof:
		return 0, io.EOF
	}
	return n, nil
}

// writerGone reports whether a writer connected and went away.
func writerGone(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0
}

// drain returns what the fifo still holds without waiting, then EOF.
func (r *stdinReader) drain(b []byte) (int, error) {
	if err := r.f.SetReadDeadline(time.Time{}); err != nil {
		return 0, io.EOF
	}
	var n int
	var rerr error
	if err := r.raw.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), b)
		return true // never wait for more
	}); err != nil || rerr != nil || n <= 0 {
		return 0, io.EOF
	}
	return n, nil
}

// closeInput ends the input: a blocked Read wakes up and drains. After
// Close it is a no-op.
func (r *stdinReader) closeInput() error {
	if r.released.Load() {
		return nil
	}
	r.closed.Store(true)
	if err := r.f.SetReadDeadline(time.Now()); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

func (r *stdinReader) Close() error {
	r.released.Store(true)
	return r.f.Close()
}
