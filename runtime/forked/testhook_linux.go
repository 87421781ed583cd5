//go:build workertesthook

package forked

import (
	"errors"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// testHook, set in workers built with -tags workertesthook, runs right after
// confinement.
var testHook func() string

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// In a worker built with -tags workertesthook (tests only), testHook
// plays a compromised runtime: right after the worker has confined itself
// it tries what a hijacked JIT would, and reports each result.
func init() { testHook = attempts }

func attempts() string {
	var out []string
	try := func(name string, err error) {
		e := "ok"
		if errno, ok := err.(syscall.Errno); ok {
			e = unix.ErrnoName(errno)
		} else if err != nil {
			var pe *os.PathError
			if errorsAs(err, &pe) {
				if errno, ok := pe.Err.(syscall.Errno); ok {
					e = unix.ErrnoName(errno)
				} else {
					e = pe.Err.Error()
				}
			} else {
				e = err.Error()
			}
		}
		out = append(out, name+"="+e)
	}
	try("execve", unix.Exec("/job/module.wasm", []string{"x"}, nil))
	_, err := syscall.ForkExec("/job/module.wasm", []string{"x"}, nil)
	try("forkexec", err)
	_, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	try("socket-inet", err)
	_, err = unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	try("socket-unix", err)
	_, err = os.ReadFile("/etc/passwd")
	try("read-host-file", err)
	_, err = os.ReadFile("/proc/self/environ")
	try("read-proc", err)
	try("mount", unix.Mount("tmpfs", "/job", "tmpfs", 0, ""))
	try("chroot", unix.Chroot("/job"))
	try("unshare-user", unix.Unshare(unix.CLONE_NEWUSER))
	try("ptrace", unix.PtraceAttach(1))
	try("write-root", os.WriteFile("/escape", []byte("x"), 0o644))
	return strings.Join(out, " ")
}
