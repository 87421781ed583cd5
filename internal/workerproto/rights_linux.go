package workerproto

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// SendWithFiles writes m as one line on the control socket ctrl with
// files attached (SCM_RIGHTS): how a job's listening sockets reach a
// worker that may not make sockets itself.
func SendWithFiles(ctrl *os.File, m Message, files []*os.File) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	rc, err := ctrl.SyscallConn()
	if err != nil {
		return err
	}
	fds := make([]int, 0, len(files))
	for _, f := range files {
		frc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		frc.Control(func(fd uintptr) { fds = append(fds, int(fd)) }) //nolint:errcheck // f is open
	}
	var n int
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgN(int(fd), b, unix.UnixRights(fds...), nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("sendmsg: %w", serr)
	}
	if n < len(b) { // the rights went with the first bytes
		_, err = ctrl.Write(b[n:])
	}
	return err
}

// RightsReader reads a control socket with recvmsg and keeps every
// descriptor that came along, for Take. A plain read would drop them.
type RightsReader struct {
	f   *os.File
	mu  sync.Mutex
	fds []int
}

// NewRightsReader reads ctrl.
func NewRightsReader(ctrl *os.File) *RightsReader { return &RightsReader{f: ctrl} }

func (r *RightsReader) Read(p []byte) (int, error) {
	rc, err := r.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := make([]byte, unix.CmsgSpace(64*4))
	var n, oobn int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					r.mu.Lock()
					r.fds = append(r.fds, fds...)
					r.mu.Unlock()
				}
			}
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF // the peer closed
	}
	return n, nil
}

// Take returns the first n descriptors received, as files.
func (r *RightsReader) Take(n int, name string) ([]*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fds) < n {
		return nil, fmt.Errorf("%d %s expected with the message, %d came", n, name, len(r.fds))
	}
	var out []*os.File
	for i, fd := range r.fds[:n] {
		out = append(out, os.NewFile(uintptr(fd), fmt.Sprintf("%s%d", name, i)))
	}
	r.fds = r.fds[n:]
	return out, nil
}
