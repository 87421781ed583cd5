package forked

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// startWorker starts the worker binary with ctrl as fd 3, in new user,
// mount, pid, ipc and uts namespaces, and in netns (or a new, empty network
// namespace when netns is empty).
func startWorker(binary string, ctrl *os.File, netns string) (*exec.Cmd, error) {
	cmd := exec.Command(binary)
	cmd.ExtraFiles = []*os.File{ctrl}
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if netns == "" {
		flags |= unix.CLONE_NEWNET // no pod network: an empty one
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: flags,
		// Root inside maps to root outside (and nothing else), so the
		// rootfs's root-owned files stay usable; the worker drops every
		// capability before it sees a guest byte (docs/RATIONALE.md).
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		Setsid:      true,
	}
	if err := startIn(cmd, netns); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return cmd, nil
}

// startIn starts cmd in the network namespace at netns (when set): from a
// thread moved into it that is never used again.
func startIn(cmd *exec.Cmd, netns string) error {
	if netns == "" {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		f, err := os.Open(netns)
		if err != nil {
			errc <- fmt.Errorf("pod network namespace: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join pod network namespace %s: %w", netns, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
