//go:build linux

package confine

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Policy selects the optional parts of the seccomp filter.
type Policy struct {
	// AllowSockets allows creating and using sockets (socket, socketpair,
	// connect, bind, listen, accept4, send/recv and socket options).
	// Without it they fail with EPERM; read and write on descriptors the
	// worker inherited still work.
	AllowSockets bool
}

// Rule is one entry of the filter: the system call Nr matches it when every
// condition in Args holds. A matching call is allowed, or fails with Errno
// when Errno is not zero. A call whose number matches but whose arguments
// do not fails with EPERM, like any call without a rule.
type Rule struct {
	Name  string     // name in syscalls(2), for people and tests
	Nr    uint32     // number on this architecture
	Args  []ArgCond  // conditions that must all hold
	Errno unix.Errno // 0: allow
}

// ArgCond holds when argument Arg (0-5) of the call, masked with Mask,
// equals one of Values. Arguments are compared as 64-bit values; use Mask
// 0xffffffff for arguments the kernel reads as 32-bit (int, unsigned int).
type ArgCond struct {
	Arg    int
	Mask   uint64
	Values []uint64
}

// ErrUnsupportedArch is returned by [InstallSeccomp] on architectures
// without an allow-list.
var ErrUnsupportedArch = errors.New("confine: no seccomp allow-list for " + runtime.GOARCH)

// Rules returns the filter's entries for p, in the order they are tested.
// Every system call without an entry fails with EPERM.
func (p Policy) Rules() []Rule {
	rules := commonRules()
	if p.AllowSockets {
		rules = append(rules, socketRules()...)
	}
	return rules
}

// InstallSeccomp installs the seccomp filter for p on every thread of the
// process (SECCOMP_FILTER_FLAG_TSYNC). Call [NoNewPrivs] first: without
// no_new_privs installing a filter needs CAP_SYS_ADMIN. The filter cannot be
// removed; filters installed later can only restrict it further.
//
// The filter
//   - kills the process (SECCOMP_RET_KILL_PROCESS) when a call comes from
//     another architecture's ABI (say int 0x80 on x86-64), where system
//     call numbers mean different calls;
//   - on x86-64, fails x32 calls (numbers with bit 30 set) with EPERM;
//   - otherwise applies [Policy.Rules]: matching calls are allowed (clone
//     only with CLONE_THREAD: new threads, never new processes; clone3
//     fails with ENOSYS so that callers fall back to clone);
//   - fails everything else with EPERM, which the Go runtime and wazero
//     handle as an ordinary error, rather than kill the worker.
func InstallSeccomp(p Policy) error {
	prog, err := program(p.Rules())
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("confine: seccomp(SECCOMP_SET_MODE_FILTER): no_new_privs is not set (call NoNewPrivs first): %w", errno)
	case errno != 0:
		return fmt.Errorf("confine: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %w", errno)
	case r != 0:
		// With TSYNC, a positive result is the id of a thread that could
		// not take the filter (it has a diverging filter of its own).
		return fmt.Errorf("confine: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d cannot be synchronized", r)
	}
	return nil
}
