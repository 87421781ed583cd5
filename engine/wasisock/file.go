package wasisock

import (
	"io/fs"
	"os"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	wazerosys "github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"
)

// sock is what a listener and a connection share: a host descriptor
// whose O_NONBLOCK is the guest's (a blocking accept, read or write waits
// in the kernel; a kill shuts the socket down to end it: Set.Wake).
type sock struct {
	experimentalsys.UnimplementedFile
	fd       int
	nonblock bool
	closed   bool
	set      *Set
}

// IsDir is false: wasi-libc prestats every descriptor.
func (*sock) IsDir() (bool, experimentalsys.Errno) { return false, 0 }

// Stat reports a socket; fd_fdstat_get calls it a SOCKET_STREAM because
// the file has the methods of wazero's TCPConn (Recvfrom, Shutdown).
func (s *sock) Stat() (st wazerosys.Stat_t, errno experimentalsys.Errno) {
	if s.closed {
		return st, experimentalsys.EBADF
	}
	st.Mode = fs.ModeSocket
	return st, 0
}

func (s *sock) IsNonblock() bool { return s.nonblock }

func (s *sock) SetNonblock(enabled bool) experimentalsys.Errno {
	if s.closed {
		return experimentalsys.EBADF
	}
	if err := unix.SetNonblock(s.fd, enabled); err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	s.nonblock = enabled
	return 0
}

// Poll waits up to timeoutMillis (-1: for ever) for the socket to be
// ready for flag.
func (s *sock) Poll(flag experimentalsys.Pflag, timeoutMillis int32) (bool, experimentalsys.Errno) {
	ev := int16(unix.POLLIN)
	if flag == experimentalsys.POLLOUT {
		ev = unix.POLLOUT
	}
	return s.set.waitOne(s.fd, ev, int(timeoutMillis))
}

// wait waits for ev on the socket when a blocking call found it not
// ready (it should not: the host descriptor is blocking then); EINTR when
// the module is being killed.
func (s *sock) wait(ev int16) experimentalsys.Errno {
	ready, errno := s.set.waitOne(s.fd, ev, -1)
	if errno == 0 && !ready {
		return experimentalsys.EINTR
	}
	return errno
}

func (s *sock) Shutdown(how int) experimentalsys.Errno {
	if s.closed {
		return experimentalsys.EBADF
	}
	// wazero's sock_shutdown passes SHUT_RD|SHUT_WR for "both", which on
	// Linux is SHUT_WR; the values are Linux's otherwise.
	return experimentalsys.UnwrapOSError(unix.Shutdown(s.fd, how))
}

// listener is a preopened listening socket.
type listener struct {
	sock
	f *os.File // owns fd
}

func (l *listener) Close() experimentalsys.Errno {
	if l.closed {
		return 0
	}
	l.closed = true
	l.set.remove(&l.sock, l.f.Close) //nolint:errcheck // closing
	return 0
}

// Recvfrom makes the listener look like a connection to fd_fdstat_get
// (SOCKET_STREAM); there is nothing to receive on it.
func (l *listener) Recvfrom([]byte, int) (int, experimentalsys.Errno) {
	return 0, experimentalsys.ENOTSUP
}

// accept takes one connection, non-blocking when nonblock; it waits
// when the guest's listener is blocking.
func (l *listener) accept(nonblock bool) (*conn, experimentalsys.Errno) {
	if l.closed {
		return nil, experimentalsys.EBADF
	}
	for {
		if l.set.isWoken() {
			return nil, experimentalsys.EINTR
		}
		nfd, err := accept4(l.fd, nonblock)
		switch err {
		case nil:
			c := &conn{sock: sock{fd: nfd, set: l.set, nonblock: nonblock}}
			l.set.add(&c.sock)
			return c, 0
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			if l.nonblock {
				return nil, experimentalsys.EAGAIN
			}
			if errno := l.wait(unix.POLLIN); errno != 0 {
				return nil, errno
			}
		default:
			return nil, experimentalsys.UnwrapOSError(err)
		}
	}
}

// accept4 is accept4(2) without the peer's address: x/sys/unix's
// Accept4 parses it and then asks getsockopt(SO_PROTOCOL), which a
// confined worker may not call.
func accept4(fd int, nonblock bool) (int, error) {
	flags := uintptr(unix.SOCK_CLOEXEC)
	if nonblock {
		flags |= unix.SOCK_NONBLOCK
	}
	r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, flags, 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// conn is an accepted connection.
type conn struct{ sock }

func (c *conn) Close() experimentalsys.Errno {
	if c.closed {
		return 0
	}
	c.closed = true
	return experimentalsys.UnwrapOSError(c.set.remove(&c.sock, func() error { return unix.Close(c.fd) }))
}

func (c *conn) Read(buf []byte) (int, experimentalsys.Errno) {
	if c.closed {
		return 0, experimentalsys.EBADF
	}
	if len(buf) == 0 {
		return 0, 0
	}
	for {
		n, err := unix.Read(c.fd, buf)
		switch err {
		case nil:
			return n, 0
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if c.nonblock {
				return 0, experimentalsys.EAGAIN
			}
			if errno := c.wait(unix.POLLIN); errno != 0 {
				return 0, errno
			}
		default:
			return 0, experimentalsys.UnwrapOSError(err)
		}
	}
}

func (c *conn) Write(buf []byte) (int, experimentalsys.Errno) {
	if c.closed {
		return 0, experimentalsys.EBADF
	}
	done := 0
	for done < len(buf) {
		n, err := unix.Write(c.fd, buf[done:])
		switch err {
		case nil:
			done += n
			if c.nonblock {
				return done, 0
			}
		case unix.EINTR:
		case unix.EAGAIN:
			if c.nonblock {
				if done > 0 {
					return done, 0
				}
				return 0, experimentalsys.EAGAIN
			}
			if errno := c.wait(unix.POLLOUT); errno != 0 {
				return done, errno
			}
		default:
			if done > 0 {
				return done, 0
			}
			return 0, experimentalsys.UnwrapOSError(err)
		}
	}
	return done, 0
}

// Recvfrom is sock_recv with MSG_PEEK (wazero's sock_recv calls it only
// with that flag; plain receives are fd_read).
func (c *conn) Recvfrom(p []byte, flags int) (int, experimentalsys.Errno) {
	if c.closed {
		return 0, experimentalsys.EBADF
	}
	if flags != unix.MSG_PEEK {
		return 0, experimentalsys.EINVAL
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, p, unix.MSG_PEEK)
		switch err {
		case nil:
			return n, 0
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if c.nonblock {
				return 0, experimentalsys.EAGAIN
			}
			if errno := c.wait(unix.POLLIN); errno != 0 {
				return 0, errno
			}
		default:
			return 0, experimentalsys.UnwrapOSError(err)
		}
	}
}

// waitOne waits for ev on fd, for timeoutMillis (-1: no limit); not ready
// and no error when the time ran out or the module is being killed.
func (s *Set) waitOne(fd int, ev int16, timeoutMillis int) (bool, experimentalsys.Errno) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: ev}, {Fd: int32(s.wake), Events: unix.POLLIN}}
	timeout := time.Duration(-1)
	if timeoutMillis >= 0 {
		timeout = time.Duration(timeoutMillis) * time.Millisecond
	}
	if err := ppoll(fds, timeout); err != nil {
		return false, experimentalsys.UnwrapOSError(err)
	}
	return fds[0].Revents != 0, 0
}

// ppoll waits on fds up to timeout (negative: no limit), across signals
// (the Go runtime's preemption signal interrupts it often). It is ppoll,
// not poll: the forked worker's seccomp allow-list has only ppoll.
func ppoll(fds []unix.PollFd, timeout time.Duration) error {
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ts *unix.Timespec
		if timeout >= 0 {
			left := max(time.Until(deadline), 0)
			t := unix.NsecToTimespec(left.Nanoseconds())
			ts = &t
		}
		_, err := unix.Ppoll(fds, ts, nil)
		if err != unix.EINTR {
			return err
		}
	}
}
