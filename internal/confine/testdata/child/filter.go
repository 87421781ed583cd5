//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
)

// trueBin is the program the exec checks try to run.
const trueBin = "/bin/true"

func deny(res results) error {
	var p [2]int // for the ioctl checks; pipe2 itself is not allowed
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	if err := confine.NoNewPrivs(); err != nil {
		return err
	}
	if err := confine.InstallSeccomp(confine.Policy{}); err != nil {
		return err
	}
	denied(res, p[0])
	return nil
}

// denied tries calls that the filter must refuse. Their arguments are
// chosen so that, without the filter, the kernel would answer differently
// (usually with a harmless error), so that EPERM proves the filter. fd is
// a pipe.
func denied(res results, fd int) {
	path, _ := unix.BytePtrFromString(trueBin)
	argv := []*byte{path, nil}
	envp := []*byte{nil}

	res.errno("execve", unix.Exec(trueBin, []string{"true"}, nil))
	atFdcwd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(atFdcwd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0])), 0, 0)
	res.raw("execveat", e)
	_, err := syscall.ForkExec(trueBin, []string{"true"}, nil)
	res.errno("forkexec", err)
	res.errno("os/exec", exec.Command(trueBin).Run())
	res.raw("clone-process", cloneProcess())
	_, _, e = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	res.raw("clone3", e)

	_, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	res.errno("socket-inet", err)
	_, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	res.errno("socket-unix", err)
	_, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	res.errno("socketpair", err)
	_, err = net.Listen("unix", "@confine-test-deny")
	res.errno("net.Listen", err)

	res.errno("mount", unix.Mount("none", "/nonexistent-confine-test", "tmpfs", 0, ""))
	res.errno("umount2", unix.Unmount("/nonexistent-confine-test", 0))
	_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 0x7ffffff0, 0, 0, 0, 0)
	res.raw("ptrace", e)
	res.errno("unshare", unix.Unshare(0)) // a no-op without the filter
	res.errno("setns", unix.Setns(-1, 0))
	_, _, e = unix.Syscall(unix.SYS_BPF, 0xffff, 0, 0)
	res.raw("bpf", e)
	res.errno("chroot", unix.Chroot("/nonexistent-confine-test"))
	res.errno("pivot_root", unix.PivotRoot("/nonexistent-confine-test", "/nonexistent-confine-test"))
	_, _, e = unix.Syscall(unix.SYS_KEYCTL, 0xffff, 0, 0)
	res.raw("keyctl", e)
	_, _, e = unix.Syscall6(unix.SYS_PERF_EVENT_OPEN, 0, 0, 0, 0, 0, 0)
	res.raw("perf_event_open", e)
	_, _, e = unix.Syscall(unix.SYS_IO_URING_SETUP, 0, 0, 0)
	res.raw("io_uring_setup", e)
	_, _, e = unix.Syscall(unix.SYS_USERFAULTFD, 0xffff, 0, 0)
	res.raw("userfaultfd", e)
	_, _, e = unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0) // a query without the filter
	res.raw("personality", e)
	_, _, e = unix.Syscall6(unix.SYS_PROCESS_VM_READV, 0x7ffffff0, 0, 0, 0, 0, 0)
	res.raw("process_vm_readv", e)
	_, _, e = unix.Syscall(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0)
	res.raw("open_by_handle_at", e)
	_, err = unix.MemfdCreate("confine", 0)
	res.errno("memfd_create", err)
	res.errno("kill", unix.Kill(0x7ffffff0, 0))

	// Calls allowed only with some arguments.
	var lim unix.Rlimit
	res.errno("prlimit-get", unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &lim))
	res.errno("prlimit-set", unix.Prlimit(0, unix.RLIMIT_NOFILE, &lim, nil))
	_, err = unix.IoctlGetTermios(fd, unix.TCGETS) // ENOTTY without the filter
	res.errno("ioctl-TCGETS", err)
	res.errno("ioctl-TIOCSTI", unix.IoctlSetPointerInt(fd, unix.TIOCSTI, 'x'))
	_, err = unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
	res.errno("ioctl-FIONREAD", err)
	var p [2]int
	res.errno("pipe2", unix.Pipe2(p[:], unix.O_CLOEXEC))
	if runtime.GOARCH == "amd64" {
		const x32 = 0x40000000 // __X32_SYSCALL_BIT
		_, _, e = unix.Syscall(x32|unix.SYS_GETPID, 0, 0, 0)
		res.raw("x32-getpid", e)
	}
}

// cloneProcess tries clone(SIGCHLD), a fork. Should it succeed, the new
// process exits at once and the parent reaps it.
func cloneProcess() unix.Errno {
	pid, _, e := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if e == 0 && pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	if e == 0 {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(int(pid), &ws, 0, nil)
	}
	return e
}

func sockets(res results) error {
	if err := confine.NoNewPrivs(); err != nil {
		return err
	}
	if err := confine.InstallSeccomp(confine.Policy{AllowSockets: true}); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	res.errno("socket-unix", err)
	if err == nil {
		unix.Close(fd)
	}
	// Go's net package end to end: listen, dial, write, read.
	addr := fmt.Sprintf("@confine-test-%d", os.Getpid())
	ln, err := net.Listen("unix", addr)
	res.errno("listen", err)
	if err == nil {
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = c.Write([]byte("pong"))
		}()
		c, err := net.Dial("unix", addr)
		res.errno("dial", err)
		if err == nil {
			buf := make([]byte, 4)
			_, err := c.Read(buf)
			res.errno("read", err)
			res["reply"] = string(buf)
			c.Close()
		}
	}
	res.errno("execve", unix.Exec(trueBin, []string{"true"}, nil))
	return nil
}
