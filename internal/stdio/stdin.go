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

// stdinReader reads a stdin fifo. CloseIO means "no more input is coming"
// (ctr closes its end, then calls CloseIO): what is still buffered in the
// fifo is read, then EOF. Closing the fifo instead would lose that input.
type stdinReader struct {
	f      *os.File // non-blocking, so reads go through Go's poller
	raw    syscall.RawConn
	closed atomic.Bool
}

func openStdin(path string) (*stdinReader, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		f.Close()
		return nil, errors.New("not a fifo")
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &stdinReader{f: f, raw: raw}, nil
}

func (r *stdinReader) Read(b []byte) (int, error) {
	if r.closed.Load() {
		return r.drain(b)
	}
	n, err := r.f.Read(b)
	if err != nil && r.closed.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		return r.drain(b)
	}
	if errors.Is(err, os.ErrClosed) {
		return n, io.EOF
	}
	return n, err
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

// closeInput ends the input: a blocked Read wakes up and drains.
func (r *stdinReader) closeInput() error {
	r.closed.Store(true)
	return r.f.SetReadDeadline(time.Now())
}

func (r *stdinReader) Close() error { return r.f.Close() }
