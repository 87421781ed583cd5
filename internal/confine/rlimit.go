//go:build linux

package confine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Unlimited is the value of an [Rlimits] field that sets no limit
// (RLIM_INFINITY).
const Unlimited = unix.RLIM_INFINITY

// Rlimits are resource limits for the worker process. Each field sets both
// the soft and the hard limit, so the guest cannot raise it again (the
// worker has no CAP_SYS_RESOURCE once [DropCapabilities] ran).
type Rlimits struct {
	NoFile  uint64 // RLIMIT_NOFILE: open file descriptors
	Core    uint64 // RLIMIT_CORE: core dump size in bytes
	MemLock uint64 // RLIMIT_MEMLOCK: bytes of memory that may be locked
	FSize   uint64 // RLIMIT_FSIZE: largest file size in bytes
}

// DefaultRlimits returns the limits for a worker running one guest:
//
//   - NoFile 1024: every WASI descriptor (preopens, opened files) is one host
//     descriptor; 1024 is plenty for a guest and bounds descriptor
//     exhaustion. It is also the limit programs expect for select(2).
//   - Core 0: a core dump would write guest memory, and anything the worker
//     read for it, to the container's working directory.
//   - MemLock 0: neither the Go runtime nor wazero locks memory (wazero maps
//     its code with plain mmap/mprotect); locked memory is host RAM that
//     cannot be reclaimed, and io_uring and BPF maps, which are charged to
//     it, are refused by seccomp anyway.
//   - FSize unlimited: the size of the container's files is a matter for
//     the snapshotter's quota; a limit here would fail legitimate large
//     writes with EFBIG (or SIGXFSZ) without protecting anything.
//
// Limits that would break the worker are left alone: RLIMIT_AS and
// RLIMIT_DATA (wazero reserves large address ranges for linear memories),
// RLIMIT_NPROC (every Go thread counts against it) and RLIMIT_STACK (Go
// stacks live on the heap).
func DefaultRlimits() Rlimits {
	return Rlimits{NoFile: 1024, Core: 0, MemLock: 0, FSize: Unlimited}
}

// SetRlimits sets the limits in r on the process (setrlimit(2) applies to
// the whole process, not a thread). It never raises a hard limit: when the
// current hard limit is lower than the requested value, both the soft and
// the hard limit are set to the current hard limit.
func SetRlimits(r Rlimits) error {
	for _, l := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, r.NoFile},
		{"RLIMIT_CORE", unix.RLIMIT_CORE, r.Core},
		{"RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK, r.MemLock},
		{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, r.FSize},
	} {
		var cur unix.Rlimit
		if err := unix.Getrlimit(l.resource, &cur); err != nil {
			return fmt.Errorf("confine: getrlimit(%s): %w", l.name, err)
		}
		v := min(l.value, cur.Max)
		if err := unix.Setrlimit(l.resource, &unix.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("confine: setrlimit(%s, %d): %w", l.name, v, err)
		}
	}
	return nil
}
