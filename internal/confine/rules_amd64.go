//go:build linux

package confine

import "golang.org/x/sys/unix"

// auditArch is the seccomp_data.arch of this architecture's native ABI.
// 32-bit calls (int 0x80) carry AUDIT_ARCH_I386 and are killed.
const auditArch = unix.AUDIT_ARCH_X86_64

// x32Bit marks x32 ABI calls (__X32_SYSCALL_BIT); they carry the x86-64
// audit architecture, so the filter refuses them by number.
const x32Bit = 0x40000000

// No call beyond the common ones is needed on x86-64: arch_prctl
// (ARCH_SET_FS) only runs at start-up (new threads get their TLS from
// clone's CLONE_SETTLS), and the runtime waits with epoll_pwait, not
// epoll_wait.
