//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
)

// caps drops capabilities with many threads. Without withProc it first
// unmounts /proc (the test starts it in a mount namespace of its own), as
// in a worker's root.
func caps(res results, dir string, withProc bool) error {
	if !withProc {
		if err := hideProc(); err != nil {
			return err
		}
	}
	f := filepath.Join(dir, "owned")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		return err
	}
	release := make(chan struct{})
	done := make(chan string)
	// Each locked thread tries to give the file away after the drop:
	// chown to another user needs CAP_CHOWN in the thread's effective set.
	tids := lockedThreads(8, release, func(tid int) {
		done <- strconv.Itoa(tid) + "=" + errnoName(unix.Fchownat(unix.AT_FDCWD, f, 12345, 12345, 0))
	})
	if err := confine.NoNewPrivs(); err != nil {
		return err
	}
	if err := confine.DropCapabilities(); err != nil {
		return err
	}
	res["proc"] = "absent"
	if _, err := os.Stat("/proc/self"); err == nil {
		res["proc"] = "mounted"
	}
	if withProc {
		if err := recordTasks(res, "NoNewPrivs", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"); err != nil {
			return err
		}
	}
	close(release)
	for range tids {
		kv := <-done
		tid, outcome, _ := strings.Cut(kv, "=")
		res["chown/"+tid] = outcome
	}
	res["locked"] = strconv.Itoa(len(tids))
	return nil
}

// hideProc unmounts /proc in the child's own mount namespace.
func hideProc() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	for range 10 { // /proc may be mounted more than once
		if _, err := os.Stat("/proc/self"); err != nil {
			return nil
		}
		if err := unix.Unmount("/proc", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount /proc: %w", err)
		}
	}
	return errors.New("/proc is still mounted")
}

func tsync(res results) error {
	release := make(chan struct{})
	outcome := make(chan string, 1)
	tids := lockedThreads(1, release, func(tid int) {
		_, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		outcome <- strconv.Itoa(tid) + " " + errnoName(err)
	})
	if err := confine.NoNewPrivs(); err != nil {
		return err
	}
	if err := confine.InstallSeccomp(confine.Policy{}); err != nil {
		return err
	}
	res["installer.tid"] = strconv.Itoa(unix.Gettid())
	close(release)
	tid, errName, _ := strings.Cut(<-outcome, " ")
	res["early.tid"] = strconv.Itoa(tids[0])
	res["early.tid.after"] = tid
	res["early.socket"] = errName
	return recordTasks(res, "NoNewPrivs", "Seccomp", "Seccomp_filters")
}

func rlimits(res results) error {
	if err := confine.SetRlimits(confine.DefaultRlimits()); err != nil {
		return err
	}
	// SetRlimits never raises a hard limit, even for root.
	if err := confine.SetRlimits(confine.Rlimits{NoFile: 4096, Core: 1 << 20, MemLock: 1 << 20, FSize: confine.Unlimited}); err != nil {
		return err
	}
	for name, r := range map[string]int{
		"NOFILE": unix.RLIMIT_NOFILE, "CORE": unix.RLIMIT_CORE,
		"MEMLOCK": unix.RLIMIT_MEMLOCK, "FSIZE": unix.RLIMIT_FSIZE,
	} {
		var l unix.Rlimit
		if err := unix.Getrlimit(r, &l); err != nil {
			return err
		}
		res[name] = fmt.Sprintf("%d/%d", l.Cur, l.Max)
	}
	// The descriptor limit is enforced: opening stops with EMFILE.
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range 2048 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res.errno("open-many", err)
			break
		}
		fds = append(fds, fd)
	}
	if len(fds) > 0 {
		res["open-many.highest"] = strconv.Itoa(fds[len(fds)-1])
	}
	return nil
}
