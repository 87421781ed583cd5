//go:build linux && (amd64 || arm64)

package confine

import "golang.org/x/sys/unix"

// allow returns an unconditional rule.
func allow(name string, nr uintptr) Rule { return Rule{Name: name, Nr: uint32(nr)} }

// cloneNamespaces are the clone flags that create namespaces.
const cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// commonRules is the allow-list shared by the supported architectures:
// what the Go runtime, wazero's compiler and a WASI file system (wazero's
// DirFS or confinedfs over openat2) call once a worker is locked down.
// Every entry was seen under strace -f in the tests' workload (child
// scenario "workload"), except where a comment gives the code path instead.
func commonRules() []Rule {
	return []Rule{
		// Threads. clone only makes a thread of this process (CLONE_THREAD,
		// which the kernel accepts only with CLONE_VM and CLONE_SIGHAND)
		// without new namespaces: never a new process. The legacy clone
		// reads its flags as 32 bits.
		{Name: "clone", Nr: unix.SYS_CLONE, Args: []ArgCond{{Arg: 0, Mask: unix.CLONE_THREAD | cloneNamespaces, Values: []uint64{unix.CLONE_THREAD}}}},
		// clone3 passes its flags in memory, which a filter cannot read.
		// The Go runtime does not use it; ENOSYS makes callers that do
		// (glibc, Go's os/exec with pidfds) fall back to clone.
		{Name: "clone3", Nr: unix.SYS_CLONE3, Errno: unix.ENOSYS},
		allow("exit", unix.SYS_EXIT), // a thread ends (a goroutine exits while locked; runtime mexit)
		allow("exit_group", unix.SYS_EXIT_GROUP),
		allow("gettid", unix.SYS_GETTID), // new threads, signal delivery
		allow("getpid", unix.SYS_GETPID), // with tgkill: preemption signals
		allow("tgkill", unix.SYS_TGKILL), // SIGURG to a thread of this process

		// Scheduling, locks and sleeping.
		allow("futex", unix.SYS_FUTEX),
		allow("sched_yield", unix.SYS_SCHED_YIELD),
		allow("sched_getaffinity", unix.SYS_SCHED_GETAFFINITY), // periodic GOMAXPROCS update
		allow("nanosleep", unix.SYS_NANOSLEEP),                 // runtime usleep
		// Continues a sleep or futex wait a signal interrupted (the
		// kernel's restart block); not in the trace, as it depends on
		// signal timing.
		allow("restart_syscall", unix.SYS_RESTART_SYSCALL),
		// Time normally comes from the vDSO; the system call is its
		// fallback (and what x/sys/unix.ClockGettime uses).
		allow("clock_gettime", unix.SYS_CLOCK_GETTIME),

		// Memory: the Go heap and stacks; wazero maps code read-write,
		// then mprotects it read-exec. munmap frees wazero code segments
		// of closed modules and runtime mappings (not in the trace: the
		// workload exits first).
		allow("mmap", unix.SYS_MMAP),
		allow("munmap", unix.SYS_MUNMAP),
		allow("mprotect", unix.SYS_MPROTECT),
		allow("madvise", unix.SYS_MADVISE), // scavenger returns memory

		// Signals: signal stacks and masks of new threads, returning from
		// handlers. rt_sigaction is in the trace only at start-up, but
		// os/signal and the runtime's crash path (resetting a handler to
		// SIG_DFL before re-raising) change handlers later.
		allow("rt_sigaction", unix.SYS_RT_SIGACTION),
		allow("rt_sigprocmask", unix.SYS_RT_SIGPROCMASK),
		allow("rt_sigreturn", unix.SYS_RT_SIGRETURN),
		allow("sigaltstack", unix.SYS_SIGALTSTACK),

		// The runtime's network poller (FIFOs, pipes, timers); it starts
		// on first use, which may be after lock-down.
		allow("epoll_create1", unix.SYS_EPOLL_CREATE1),
		allow("epoll_ctl", unix.SYS_EPOLL_CTL),
		allow("epoll_pwait", unix.SYS_EPOLL_PWAIT),
		allow("eventfd2", unix.SYS_EVENTFD2),
		// wazero's poll_oneoff on stdin and confinedfs's File.Poll
		// (internal/sysfs/poll_linux.go, confinedfs/file.go); not in the
		// trace, as the test guests do not poll.
		allow("ppoll", unix.SYS_PPOLL),

		// Descriptors. No ioctl: nothing in the trace used it, not even
		// with stdio on pipes, and it is where terminal injection
		// (TIOCSTI) and device interfaces live.
		allow("read", unix.SYS_READ),
		allow("write", unix.SYS_WRITE),
		allow("pread64", unix.SYS_PREAD64),
		allow("pwrite64", unix.SYS_PWRITE64),
		allow("lseek", unix.SYS_LSEEK),
		allow("close", unix.SYS_CLOSE),
		allow("fcntl", unix.SYS_FCNTL), // O_NONBLOCK, O_APPEND, FD_CLOEXEC

		// File system: WASI path_* and fd_* through wazero's DirFS
		// (openat, ...at) and confinedfs (openat2 RESOLVE_IN_ROOT, then
		// ...at on one name). Paths resolve in the worker's pivot_root'ed
		// root; confinement of paths is the mount namespace's job, not
		// the filter's.
		allow("openat", unix.SYS_OPENAT),
		allow("openat2", unix.SYS_OPENAT2),
		allow("newfstatat", unix.SYS_NEWFSTATAT),
		allow("fstat", unix.SYS_FSTAT),
		allow("getdents64", unix.SYS_GETDENTS64),
		allow("mkdirat", unix.SYS_MKDIRAT),
		allow("unlinkat", unix.SYS_UNLINKAT),
		allow("renameat", unix.SYS_RENAMEAT),
		allow("symlinkat", unix.SYS_SYMLINKAT),
		allow("readlinkat", unix.SYS_READLINKAT),
		allow("linkat", unix.SYS_LINKAT),
		allow("fchmodat", unix.SYS_FCHMODAT),
		allow("fchmodat2", unix.SYS_FCHMODAT2), // x/sys/unix.Fchmodat with flags
		allow("utimensat", unix.SYS_UTIMENSAT),
		allow("ftruncate", unix.SYS_FTRUNCATE),
		allow("fsync", unix.SYS_FSYNC),
		allow("fdatasync", unix.SYS_FDATASYNC),

		// Randomness: crypto/rand, WASI random_get.
		allow("getrandom", unix.SYS_GETRANDOM),

		// Serving the listening sockets a job brings (engine/wasisock):
		// they come with the job message as SCM_RIGHTS (recvmsg), and a
		// module accepts on them and serves the connections (accept4,
		// shutdown; recvfrom for sock_recv's MSG_PEEK; reads and writes
		// are read and write). None of these makes a socket or reaches
		// an address: socket, connect, bind and listen stay denied.
		allow("accept4", unix.SYS_ACCEPT4),
		allow("shutdown", unix.SYS_SHUTDOWN),
		allow("recvfrom", unix.SYS_RECVFROM),
		allow("recvmsg", unix.SYS_RECVMSG),
	}
}

// socketRules are the calls [Policy.AllowSockets] adds to the common ones
// (which serve inherited sockets: accept4, shutdown, recvfrom, recvmsg):
// what Go's net package and wazero's sock_* functions use to make sockets
// (seen under strace in the tests' sockets scenario: socket, bind, listen,
// connect, getsockname, getpeername, setsockopt), plus getsockopt
// (SO_ERROR after a non-blocking TCP connect) and the datagram calls.
func socketRules() []Rule {
	return []Rule{
		allow("socket", unix.SYS_SOCKET),
		allow("socketpair", unix.SYS_SOCKETPAIR),
		allow("connect", unix.SYS_CONNECT),
		allow("bind", unix.SYS_BIND),
		allow("listen", unix.SYS_LISTEN),
		allow("getsockname", unix.SYS_GETSOCKNAME),
		allow("getpeername", unix.SYS_GETPEERNAME),
		allow("getsockopt", unix.SYS_GETSOCKOPT),
		allow("setsockopt", unix.SYS_SETSOCKOPT),
		allow("sendto", unix.SYS_SENDTO),
		allow("sendmsg", unix.SYS_SENDMSG),
	}
}
