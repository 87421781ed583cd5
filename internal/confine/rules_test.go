//go:build linux && (amd64 || arm64)

package confine

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// forbidden are calls no policy may allow: they create processes, execute
// programs, change privileges, namespaces or mounts, reach into other
// processes or the kernel.
func forbidden() map[string]uintptr {
	return map[string]uintptr{
		"execve": unix.SYS_EXECVE, "execveat": unix.SYS_EXECVEAT,
		"ptrace": unix.SYS_PTRACE, "process_vm_readv": unix.SYS_PROCESS_VM_READV,
		"process_vm_writev": unix.SYS_PROCESS_VM_WRITEV, "kill": unix.SYS_KILL,
		"mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2, "pivot_root": unix.SYS_PIVOT_ROOT,
		"chroot": unix.SYS_CHROOT, "setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE,
		"open_tree": unix.SYS_OPEN_TREE, "move_mount": unix.SYS_MOVE_MOUNT, "fsopen": unix.SYS_FSOPEN,
		"bpf": unix.SYS_BPF, "keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY,
		"request_key": unix.SYS_REQUEST_KEY, "init_module": unix.SYS_INIT_MODULE,
		"finit_module": unix.SYS_FINIT_MODULE, "delete_module": unix.SYS_DELETE_MODULE,
		"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
		"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT,
		"perf_event_open": unix.SYS_PERF_EVENT_OPEN, "userfaultfd": unix.SYS_USERFAULTFD,
		"io_uring_setup": unix.SYS_IO_URING_SETUP, "io_uring_enter": unix.SYS_IO_URING_ENTER,
		"io_uring_register": unix.SYS_IO_URING_REGISTER, "reboot": unix.SYS_REBOOT,
		"swapon": unix.SYS_SWAPON, "swapoff": unix.SYS_SWAPOFF, "syslog": unix.SYS_SYSLOG,
		"acct": unix.SYS_ACCT, "quotactl": unix.SYS_QUOTACTL, "fanotify_init": unix.SYS_FANOTIFY_INIT,
		"personality": unix.SYS_PERSONALITY, "mbind": unix.SYS_MBIND, "seccomp": unix.SYS_SECCOMP,
		"prctl": unix.SYS_PRCTL, "capset": unix.SYS_CAPSET, "setuid": unix.SYS_SETUID,
		"setresuid": unix.SYS_SETRESUID, "setgroups": unix.SYS_SETGROUPS, "setrlimit": unix.SYS_SETRLIMIT,
		"prlimit64": unix.SYS_PRLIMIT64, "memfd_create": unix.SYS_MEMFD_CREATE, "ioctl": unix.SYS_IOCTL,
		"pidfd_open": unix.SYS_PIDFD_OPEN, "pidfd_getfd": unix.SYS_PIDFD_GETFD,
	}
}

func TestRulesData(t *testing.T) {
	base, withSockets := Policy{}.Rules(), Policy{AllowSockets: true}.Rules()
	for _, rules := range [][]Rule{base, withSockets} {
		names, nrs := map[string]bool{}, map[uint32]bool{}
		for _, r := range rules {
			if r.Name == "" || names[r.Name] || nrs[r.Nr] {
				t.Errorf("rule %q (%d): empty or duplicate", r.Name, r.Nr)
			}
			names[r.Name], nrs[r.Nr] = true, true
		}
		for name, nr := range forbidden() {
			if nrs[uint32(nr)] {
				t.Errorf("%s (%d) has a rule", name, nr)
			}
		}
	}
	find := func(rules []Rule, name string) (Rule, bool) {
		i := slices.IndexFunc(rules, func(r Rule) bool { return r.Name == name })
		if i < 0 {
			return Rule{}, false
		}
		return rules[i], true
	}
	// What a worker cannot do without: threads, memory for wazero's code,
	// confined opens.
	for _, name := range []string{"clone", "futex", "mmap", "mprotect", "munmap", "rt_sigreturn", "openat2", "exit_group"} {
		if _, ok := find(base, name); !ok {
			t.Errorf("no rule for %s", name)
		}
	}
	clone, _ := find(base, "clone")
	if want := []ArgCond{{Arg: 0, Mask: unix.CLONE_THREAD | cloneNamespaces, Values: []uint64{unix.CLONE_THREAD}}}; !slices.EqualFunc(clone.Args, want, func(a, b ArgCond) bool {
		return a.Arg == b.Arg && a.Mask == b.Mask && slices.Equal(a.Values, b.Values)
	}) {
		t.Errorf("clone conditions %+v, want %+v", clone.Args, want)
	}
	if clone3, _ := find(base, "clone3"); clone3.Errno != unix.ENOSYS {
		t.Errorf("clone3 errno %v, want ENOSYS", clone3.Errno)
	}
	for _, r := range base {
		if r.Errno == 0 && len(r.Args) > 0 && r.Name != "clone" {
			t.Errorf("%s: unexpected argument conditions", r.Name)
		}
	}
	// Serving an inherited socket always; making one only on request.
	for _, name := range []string{"accept4", "shutdown", "recvfrom", "recvmsg"} {
		if _, ok := find(base, name); !ok {
			t.Errorf("%s (serving an inherited socket) not allowed", name)
		}
	}
	for _, name := range []string{"socket", "socketpair", "connect", "bind", "listen", "sendmsg", "getsockopt", "setsockopt"} {
		if _, ok := find(base, name); ok {
			t.Errorf("%s allowed without AllowSockets", name)
		}
		if _, ok := find(withSockets, name); !ok {
			t.Errorf("%s not allowed with AllowSockets", name)
		}
	}
	if len(withSockets) != len(base)+len(socketRules()) || !slices.EqualFunc(withSockets[:len(base)], base, func(a, b Rule) bool { return a.Nr == b.Nr }) {
		t.Errorf("AllowSockets changes more than the socket calls")
	}
}
