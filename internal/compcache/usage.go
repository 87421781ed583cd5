//go:build linux

package compcache

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// usageWatch reports, through inotify, the files of one directory that were
// opened or renamed into place, in order: a disk hit in wazero is an open,
// a new entry a rename. The descriptor is non-blocking and only read by
// drain, so no goroutine is needed.
type usageWatch struct {
	fd int
}

func newUsageWatch(dir string) (*usageWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN|unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", dir, err)
	}
	return &usageWatch{fd: fd}, nil
}

// drain returns the names used since the last call, oldest first (names
// repeat), and whether the kernel queue overflowed (events were lost).
func (w *usageWatch) drain() (names []string, overflow bool, err error) {
	var buf [64 << 10]byte
	for {
		n, err := unix.Read(w.fd, buf[:])
		if errors.Is(err, unix.EAGAIN) {
			return names, overflow, nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return names, overflow, fmt.Errorf("read inotify: %w", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameEnd := off + unix.SizeofInotifyEvent + int(ev.Len)
			if nameEnd > n {
				break
			}
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				overflow = true
			}
			if ev.Mask&unix.IN_ISDIR == 0 && ev.Len > 0 {
				name := buf[off+unix.SizeofInotifyEvent : nameEnd]
				names = append(names, string(bytes.TrimRight(name, "\x00")))
			}
			off = nameEnd
		}
	}
}

func (w *usageWatch) close() error {
	return unix.Close(w.fd)
}
