//go:build linux && (amd64 || arm64)

package confine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests run the assembled filter in a small classic-BPF interpreter
// (the subset seccomp programs use), in the test process: nothing is
// installed.

// call is a struct seccomp_data.
type call struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// bytes encodes c as the kernel does, in the native (little-endian) order.
func (c call) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[offNr:], c.nr)
	binary.LittleEndian.PutUint32(b[offArch:], c.arch)
	for i, a := range c.args {
		binary.LittleEndian.PutUint64(b[offArgs+8*i:], a)
	}
	return b
}

// run interprets prog on c and returns the filter's result.
func run(t *testing.T, prog []unix.SockFilter, c call) uint32 {
	t.Helper()
	data := c.bytes()
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				t.Fatalf("pc %d: load at %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			ok := acc == in.K
			if in.Code&0xf0 == unix.BPF_JGE {
				ok = acc >= in.K
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("pc %d: unexpected instruction %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

func mustProgram(t *testing.T, rules []Rule) []unix.SockFilter {
	t.Helper()
	prog, err := program(rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("%d instructions", len(prog))
	}
	return prog
}

func native(nr uintptr, args ...uint64) call {
	c := call{nr: uint32(nr), arch: auditArch}
	copy(c.args[:], args)
	return c
}

var ePERM, eNOSYS = retErrno(unix.EPERM), retErrno(unix.ENOSYS)

// goCloneFlags are the flags of the Go runtime's clone of a thread.
const goCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS

func TestFilterDecisions(t *testing.T) {
	for _, p := range []Policy{{}, {AllowSockets: true}} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			prog := mustProgram(t, p.Rules())
			sock := ePERM
			if p.AllowSockets {
				sock = retAllow
			}
			for _, tc := range []struct {
				name string
				c    call
				want uint32
			}{
				{"read", native(unix.SYS_READ), retAllow},
				{"openat2", native(unix.SYS_OPENAT2), retAllow},
				{"mprotect", native(unix.SYS_MPROTECT), retAllow},
				{"foreign arch, allowed number", call{nr: unix.SYS_READ, arch: 0x40000003 /* AUDIT_ARCH_I386 */}, retKill},
				{"foreign arch, arm", call{nr: unix.SYS_WRITE, arch: 0x40000028 /* AUDIT_ARCH_ARM */}, retKill},
				{"other 64-bit arch", call{nr: unix.SYS_READ, arch: otherArch}, retKill},
				{"clone of a Go thread", native(unix.SYS_CLONE, goCloneFlags), retAllow},
				{"clone thread, high bits ignored by the kernel", native(unix.SYS_CLONE, 0xffffffff00000000|goCloneFlags), retAllow},
				{"fork", native(unix.SYS_CLONE, uint64(unix.SIGCHLD)), ePERM},
				{"vfork", native(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_VFORK|uint64(unix.SIGCHLD)), ePERM},
				{"clone thread into new user ns", native(unix.SYS_CLONE, goCloneFlags|unix.CLONE_NEWUSER), ePERM},
				{"clone thread into new net ns", native(unix.SYS_CLONE, goCloneFlags|unix.CLONE_NEWNET), ePERM},
				{"clone3", native(unix.SYS_CLONE3), eNOSYS},
				{"socket", native(unix.SYS_SOCKET, unix.AF_INET), sock},
				{"accept4", native(unix.SYS_ACCEPT4), retAllow},
				{"bind", native(unix.SYS_BIND), sock},
				{"connect", native(unix.SYS_CONNECT), sock},
				{"ioctl TCGETS", native(unix.SYS_IOCTL, 0, unix.TCGETS), ePERM},
				{"negative number", native(^uintptr(0)), ePERM},
				{"unknown number", native(4000), ePERM},
			} {
				if got := run(t, prog, tc.c); got != tc.want {
					t.Errorf("%s: %#x, want %#x", tc.name, got, tc.want)
				}
			}
			for _, r := range p.Rules() {
				if len(r.Args) > 0 {
					continue
				}
				want := uint32(retAllow)
				if r.Errno != 0 {
					want = retErrno(r.Errno)
				}
				if got := run(t, prog, native(uintptr(r.Nr), 0xdead, 0xbeef)); got != want {
					t.Errorf("%s (%d): %#x, want %#x", r.Name, r.Nr, got, want)
				}
			}
			for name, nr := range forbidden() {
				if got := run(t, prog, native(nr)); got != ePERM {
					t.Errorf("%s (%d): %#x, want EPERM", name, nr, got)
				}
			}
		})
	}
}

// otherArch is the audit architecture of the other supported one.
var otherArch = map[uint32]uint32{
	unix.AUDIT_ARCH_X86_64:  unix.AUDIT_ARCH_AARCH64,
	unix.AUDIT_ARCH_AARCH64: unix.AUDIT_ARCH_X86_64,
}[auditArch]

func TestFilterX32(t *testing.T) {
	if x32Bit == 0 {
		t.Skip("no x32 ABI on " + fmt.Sprint(auditArch))
	}
	prog := mustProgram(t, Policy{}.Rules())
	for _, nr := range []uintptr{unix.SYS_READ, unix.SYS_CLONE, unix.SYS_OPENAT} {
		if got := run(t, prog, native(x32Bit|nr, goCloneFlags)); got != ePERM {
			t.Errorf("x32 %d: %#x, want EPERM", nr, got)
		}
	}
}

// The 64-bit, multi-value, multi-condition argument tests agree with a
// direct evaluation of the conditions.
func TestFilterArgConditions(t *testing.T) {
	rules := []Rule{
		{Name: "a", Nr: 500, Args: []ArgCond{
			{Arg: 2, Mask: ^uint64(0), Values: []uint64{0, 0x1_0000_0002}},
			{Arg: 0, Mask: 0xff00, Values: []uint64{0x100, 0x200, 0x4200}},
		}},
		{Name: "b", Nr: 501, Errno: unix.EACCES, Args: []ArgCond{{Arg: 5, Mask: 0xf_0000_0000, Values: []uint64{0x3_0000_0000}}}},
		{Name: "c", Nr: 502},
	}
	prog := mustProgram(t, rules)
	holds := func(r Rule, args [6]uint64) bool {
		for _, c := range r.Args {
			ok := false
			for _, v := range c.Values {
				ok = ok || args[c.Arg]&c.Mask == v
			}
			if !ok {
				return false
			}
		}
		return true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []uint64{0, 2, 0x100, 0x200, 0x4200, 0x1_0000_0002, 0x3_0000_0000, 0x13_0000_0000, 0x1_0000_0000, 0xffff_ffff_ffff_ffff}
	for i := range 20000 {
		var args [6]uint64
		for j := range args {
			if rng.IntN(2) == 0 {
				args[j] = interesting[rng.IntN(len(interesting))] | uint64(rng.IntN(2))<<rng.IntN(64)
			} else {
				args[j] = rng.Uint64()
			}
		}
		r := rules[i%len(rules)]
		want := ePERM
		if holds(r, args) {
			want = retAllow
			if r.Errno != 0 {
				want = retErrno(r.Errno)
			}
		}
		c := native(uintptr(r.Nr))
		c.args = args
		if got := run(t, prog, c); got != want {
			t.Fatalf("rule %s args %#x: %#x, want %#x", r.Name, args, got, want)
		}
	}
}

func TestFilterRejectsBadRules(t *testing.T) {
	for _, r := range []Rule{
		{Name: "arg", Nr: 1, Args: []ArgCond{{Arg: 6, Mask: 1, Values: []uint64{1}}}},
		{Name: "mask", Nr: 1, Args: []ArgCond{{Arg: 0, Mask: 0, Values: []uint64{0}}}},
		{Name: "values", Nr: 1, Args: []ArgCond{{Arg: 0, Mask: 1}}},
		{Name: "outside", Nr: 1, Args: []ArgCond{{Arg: 0, Mask: 1, Values: []uint64{2}}}},
	} {
		if _, err := program([]Rule{r}); err == nil {
			t.Errorf("rule %s: no error", r.Name)
		}
	}
}
