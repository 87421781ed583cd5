// Package stdio opens the stdio fifos containerd hands to a task.
package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// Set is a task's opened stdio. Missing paths are an empty stdin and
// discarded output.
type Set struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	closers   []io.Closer
	stdin     *stdinReader
	closeOnce sync.Once
}

// CloseStdin ends stdin: input still buffered in the fifo is read, then
// reads return EOF.
func (s *Set) CloseStdin() error {
	if s.stdin == nil {
		return nil
	}
	return s.stdin.closeInput()
}

// Close closes every fifo once.
func (s *Set) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		for _, c := range s.closers {
			if err := c.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// openWriter opens a fifo for writing, waiting at most timeout for a
// reader. (A blocked open(2) cannot be interrupted: on timeout it is left
// to finish or to die with the process.)
func openWriter(path string, timeout time.Duration) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		ch <- result{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("no reader after %v", timeout)
	}
}

// OpenDirect opens the fifos in a process without /proc (a confined
// worker), where containerd/fifo cannot reopen paths (the daemon uses
// internal/fifos): output fifos are opened with plain open(2), waiting up
// to timeout for their reader.
func OpenDirect(stdin, stdout, stderr string, timeout time.Duration) (*Set, error) {
	return OpenWith(stdin, stdout, stderr, func(path string) (io.WriteCloser, error) {
		f, err := openWriter(path, timeout)
		if err != nil {
			return nil, err
		}
		if err := requireFifo(f); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	})
}

// OpenWith opens stdin, and stdout and stderr with openOut.
func OpenWith(stdin, stdout, stderr string, openOut func(string) (io.WriteCloser, error)) (_ *Set, retErr error) {
	s := &Set{Stdin: eofReader{}, Stdout: io.Discard, Stderr: io.Discard}
	defer func() {
		if retErr != nil {
			s.Close()
		}
	}()
	if stdin != "" {
		r, err := openStdin(stdin)
		if err != nil {
			return nil, fmt.Errorf("open stdin %q: %w: %w", stdin, err, errkind.InvalidArgument)
		}
		s.stdin = r
		s.closers = append(s.closers, r)
		s.Stdin = r
	}
	for _, o := range []struct {
		path string
		dst  *io.Writer
		name string
	}{{stdout, &s.Stdout, "stdout"}, {stderr, &s.Stderr, "stderr"}} {
		if o.path == "" {
			continue
		}
		w, err := openOut(o.path)
		if err != nil {
			return nil, fmt.Errorf("open %s %q: %w: %w", o.name, o.path, err, errkind.InvalidArgument)
		}
		s.closers = append(s.closers, w)
		*o.dst = w
	}
	return s, nil
}
