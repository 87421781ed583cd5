//go:build linux

// Package confine locks down a worker process before it runs guest code:
// no_new_privs, no capabilities, resource limits and a seccomp allow-list.
//
// A worker calls [LockDown] once it is inside its namespaces and has
// pivot_root'ed, and before it parses any guest byte.
//
// No_new_privs, capabilities and seccomp filters are attributes of each
// thread, not of the process. The package changes them on every thread of
// the Go runtime with [syscall.AllThreadsSyscall] and SECCOMP_FILTER_FLAG_TSYNC,
// which only works in binaries built without cgo (CGO_ENABLED=0): with cgo
// the functions fail with ENOTSUP rather than leave threads unconfined.
//
// [DropCapabilities] verifies its result for every thread in
// /proc/self/task when /proc is mounted, and works without it.
package confine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allThreads runs a system call without pointer arguments on every thread
// of the Go runtime.
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	return threadsErr(errno)
}

// threadsErr converts the result of syscall.AllThreadsSyscall to an error.
func threadsErr(errno syscall.Errno) error {
	if errno == 0 {
		return nil
	}
	if errno == syscall.ENOTSUP {
		return fmt.Errorf("the binary uses cgo, build it with CGO_ENABLED=0: %w", errno)
	}
	return errno
}

// NoNewPrivs sets no_new_privs (PR_SET_NO_NEW_PRIVS) on every thread: from
// then on execve cannot grant privileges (setuid bits, file capabilities),
// and an unprivileged thread may install a seccomp filter.
func NoNewPrivs() error {
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("confine: prctl(PR_SET_NO_NEW_PRIVS) on all threads: %w", err)
	}
	return nil
}

// DropCapabilities removes every capability from every thread: it drops
// them from the bounding set, clears the ambient set and sets the
// effective, permitted and inheritable sets to zero. Then it verifies: in
// /proc/self/task/*/status, CapInh, CapPrm, CapEff, CapBnd and CapAmb must
// be zero on every thread.
//
// A worker that pivot_root'ed into a root without /proc still gets every
// step: the highest capability number is then probed instead of read from
// /proc/sys/kernel/cap_last_cap, and the verification reads the calling
// thread's sets with capget(2) and prctl(2). The other threads are covered
// by syscall.AllThreadsSyscall, which returns success only when the call
// succeeded on every thread (and ends the process when results differ).
//
// Dropping from the bounding set needs CAP_SETPCAP: call DropCapabilities
// while the worker still holds it (as root of its user namespace).
// Capabilities already gone from the bounding set are skipped, so a second
// call succeeds without it.
func DropCapabilities() error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	for c := 0; c <= last; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("confine: prctl(PR_CAPBSET_READ, %d): %w", c, err)
		}
		if in == 0 {
			continue
		}
		if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
			return fmt.Errorf("confine: prctl(PR_CAPBSET_DROP, %d) on all threads: %w", c, err)
		}
	}
	// Ambient capabilities need Linux 4.3 (openat2, which workers need,
	// 5.6); the arguments after the operation must be zero.
	_, _, errno := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0)
	if err := threadsErr(errno); err != nil {
		return fmt.Errorf("confine: prctl(PR_CAP_AMBIENT_CLEAR_ALL) on all threads: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: each calling thread
	var data [2]unix.CapUserData                                        // version 3: two 32-bit words, all zero
	// AllThreadsSyscall is go:uintptrescapes: the pointers converted in its
	// argument list stay valid during the call.
	_, _, errno = syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if err := threadsErr(errno); err != nil {
		return fmt.Errorf("confine: capset(0) on all threads: %w", err)
	}
	checked, err := verifyThreads(func(field, value string) error {
		switch field {
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			n, err := strconv.ParseUint(value, 16, 64)
			if err != nil {
				return fmt.Errorf("%s %q: %w", field, value, err)
			}
			if n != 0 {
				return fmt.Errorf("%s is %s, want 0", field, value)
			}
		}
		return nil
	})
	if err != nil || checked {
		return err
	}
	return verifyThisThread(last)
}

// lastCap returns the highest capability number the kernel knows: the
// content of /proc/sys/kernel/cap_last_cap or, without /proc, the last one
// PR_CAPBSET_READ accepts (it fails with EINVAL past the last).
func lastCap() (int, error) {
	const path = "/proc/sys/kernel/cap_last_cap"
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		for c := 0; c < 64; c++ {
			_, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
			if err == unix.EINVAL {
				return c - 1, nil
			}
			if err != nil {
				return 0, fmt.Errorf("confine: probe highest capability: prctl(PR_CAPBSET_READ, %d): %w", c, err)
			}
		}
		return 63, nil
	}
	if err != nil {
		return 0, fmt.Errorf("confine: read highest capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("confine: parse %s %q: bad capability number", path, b)
	}
	return n, nil
}

// verifyThreads calls check with each "Field:\tvalue" line of the status
// file of every thread of the process. It reports false, and no error, when
// /proc is not mounted.
func verifyThreads(check func(field, value string) error) (bool, error) {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return false, nil
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return false, fmt.Errorf("confine: verify threads: %w", err)
		}
		for line := range bytes.Lines(b) {
			field, value, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
			if !ok {
				continue
			}
			if err := check(field, strings.TrimSpace(value)); err != nil {
				return false, fmt.Errorf("confine: verify thread %s: %w", filepath.Base(filepath.Dir(path)), err)
			}
		}
	}
	return true, nil
}

// verifyThisThread checks that the calling thread has no capability left
// in any set, up to capability last.
func verifyThisThread(last int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("confine: verify: capget: %w", err)
	}
	for _, d := range data {
		if d.Effective|d.Permitted|d.Inheritable != 0 {
			return fmt.Errorf("confine: verify: capget: effective/permitted/inheritable %+v, want 0", data)
		}
	}
	for c := 0; c <= last; c++ {
		bnd, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			return fmt.Errorf("confine: verify: prctl(PR_CAPBSET_READ, %d): %w", c, err)
		}
		amb, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		if err != nil {
			return fmt.Errorf("confine: verify: prctl(PR_CAP_AMBIENT_IS_SET, %d): %w", c, err)
		}
		if bnd != 0 || amb != 0 {
			return fmt.Errorf("confine: verify: capability %d still in the bounding (%d) or ambient (%d) set", c, bnd, amb)
		}
	}
	return nil
}

// LockDown confines the calling process for good, in this order: the
// default rlimits, no_new_privs, no capabilities, then the seccomp
// allow-list of p (installing it needs no_new_privs).
func LockDown(p Policy) error {
	if err := SetRlimits(DefaultRlimits()); err != nil {
		return err
	}
	if err := NoNewPrivs(); err != nil {
		return err
	}
	if err := DropCapabilities(); err != nil {
		return err
	}
	return InstallSeccomp(p)
}
