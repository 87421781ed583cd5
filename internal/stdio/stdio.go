// Package stdio opens the stdio fifos containerd hands to a task.
package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
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

// Open opens the fifos. Writers are opened blocking: containerd (CRI, ctr)
// opens the read side before it creates the task, so this returns at once;
// ctx bounds the wait otherwise.
func Open(ctx context.Context, stdin, stdout, stderr string) (_ *Set, retErr error) {
	s := &Set{Stdin: eofReader{}, Stdout: io.Discard, Stderr: io.Discard}
	defer func() {
		if retErr != nil {
			s.Close()
		}
	}()
	if stdin != "" {
		r, err := openStdin(stdin)
		if err != nil {
			return nil, fmt.Errorf("open stdin %q: %w: %w", stdin, err, errdefs.ErrInvalidArgument)
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
		if fi, err := os.Stat(o.path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			return nil, fmt.Errorf("open %s %q: not a fifo: %w", o.name, o.path, errdefs.ErrInvalidArgument)
		}
		f, err := fifo.OpenFifo(ctx, o.path, syscall.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s %q: %w: %w", o.name, o.path, err, errdefs.ErrInvalidArgument)
		}
		s.closers = append(s.closers, f)
		*o.dst = f
	}
	return s, nil
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
