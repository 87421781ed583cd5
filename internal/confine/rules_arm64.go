//go:build linux

package confine

import "golang.org/x/sys/unix"

// auditArch is the seccomp_data.arch of this architecture's native ABI.
// 32-bit compat calls carry AUDIT_ARCH_ARM and are killed.
const auditArch = unix.AUDIT_ARCH_AARCH64

// x32Bit is zero: arm64 has no x32-like ABI sharing its audit architecture.
const x32Bit = 0

// No call beyond the common ones is needed: their names exist on arm64 too.
