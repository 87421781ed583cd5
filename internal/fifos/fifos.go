// Package fifos opens, in the daemon and the pod servers, the stdio fifos
// containerd hands to a task. It is apart from internal/stdio because it
// uses containerd/fifo, which the confined worker must not link.
package fifos

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/containerd/fifo"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
)

// Open opens the fifos. Writers are opened blocking: containerd (CRI, ctr)
// opens the read side before it creates the task, so this returns at once;
// ctx bounds the wait otherwise.
func Open(ctx context.Context, stdin, stdout, stderr string) (*stdio.Set, error) {
	return stdio.OpenWith(stdin, stdout, stderr, func(path string) (io.WriteCloser, error) {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err // names what is wrong: missing, unreachable...
		}
		if fi.Mode()&os.ModeNamedPipe == 0 {
			return nil, errors.New("not a fifo")
		}
		return fifo.OpenFifo(ctx, path, syscall.O_WRONLY, 0)
	})
}
