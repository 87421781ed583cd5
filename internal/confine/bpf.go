//go:build linux

package confine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (linux/seccomp.h): int nr; __u32 arch;
// __u64 instruction_pointer; __u64 args[6]. Both supported architectures
// are little-endian, so the low 32 bits of an argument come first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Filter results.
const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

func retErrno(e unix.Errno) uint32 {
	return unix.SECCOMP_RET_ERRNO | uint32(e)&unix.SECCOMP_RET_DATA
}

// program assembles the classic BPF program of the filter with rules; see
// [InstallSeccomp] for what it does.
func program(rules []Rule) ([]unix.SockFilter, error) {
	if auditArch == 0 {
		return nil, ErrUnsupportedArch
	}
	// Every jump is short and forward: failures return close to where
	// they are found, so the list can grow without exceeding the 8-bit
	// offsets of conditional jumps.
	var a asm
	native := a.label()
	a.load(offArch)
	a.jump(unix.BPF_JEQ, auditArch, native, next)
	a.ret(retKill)
	a.bind(native)
	a.load(offNr)
	if x32Bit != 0 {
		notX32 := a.label()
		a.jump(unix.BPF_JGE, x32Bit, next, notX32)
		a.ret(retErrno(unix.EPERM))
		a.bind(notX32)
	}
	for _, r := range rules {
		if err := a.rule(r); err != nil {
			return nil, err
		}
	}
	a.ret(retErrno(unix.EPERM))
	return a.assemble()
}

// rule appends the test of r. The accumulator holds the system call number
// before it, and still does when the number does not match.
func (a *asm) rule(r Rule) error {
	action := uint32(retAllow)
	if r.Errno != 0 {
		action = retErrno(r.Errno)
	}
	skip, deny := a.label(), a.label()
	a.jump(unix.BPF_JEQ, r.Nr, next, skip)
	for _, c := range r.Args {
		if c.Arg < 0 || c.Arg > 5 || c.Mask == 0 || len(c.Values) == 0 {
			return fmt.Errorf("confine: rule %s: bad argument condition %+v", r.Name, c)
		}
		holds := a.label()
		for i, v := range c.Values {
			if v&^c.Mask != 0 {
				return fmt.Errorf("confine: rule %s: value %#x has bits outside mask %#x", r.Name, v, c.Mask)
			}
			mismatch := deny
			if i < len(c.Values)-1 {
				mismatch = a.label()
			}
			for half := range 2 { // low then high 32 bits
				m, want := uint32(c.Mask>>(32*half)), uint32(v>>(32*half))
				if m == 0 {
					continue
				}
				a.load(offArgs + 8*uint32(c.Arg) + 4*uint32(half))
				if m != 0xffffffff {
					a.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, m)
				}
				a.jump(unix.BPF_JEQ, want, next, mismatch)
			}
			a.jumpTo(holds)
			if mismatch != deny {
				a.bind(mismatch)
			}
		}
		a.bind(holds)
	}
	a.ret(action)
	if len(r.Args) > 0 {
		// The number matched but an argument did not. (The accumulator
		// no longer holds the number: do not fall through to the next
		// rule.)
		a.bind(deny)
		a.ret(retErrno(unix.EPERM))
	}
	// skip is reached only from the first test, with the number still in
	// the accumulator.
	a.bind(skip)
	return nil
}

// next is the jump target "following instruction".
const next = -1

// asm assembles a classic BPF program with forward jumps to labels.
type asm struct {
	prog   []unix.SockFilter
	labels []int     // label -> instruction index, -1 while unbound
	jumps  []pending // conditional and unconditional jumps to resolve
}

type pending struct {
	at     int
	jt, jf int // labels or next
	always bool
}

func (a *asm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *asm) bind(l int) { a.labels[l] = len(a.prog) }

func (a *asm) stmt(code uint16, k uint32) {
	a.prog = append(a.prog, unix.SockFilter{Code: code, K: k})
}

// load loads the 32-bit word at off in seccomp_data into the accumulator.
func (a *asm) load(off uint32) { a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off) }

func (a *asm) ret(k uint32) { a.stmt(unix.BPF_RET|unix.BPF_K, k) }

// jump compares the accumulator with k (op is BPF_JEQ, BPF_JGE, ...).
func (a *asm) jump(op uint16, k uint32, jt, jf int) {
	a.jumps = append(a.jumps, pending{at: len(a.prog), jt: jt, jf: jf})
	a.stmt(unix.BPF_JMP|op|unix.BPF_K, k)
}

// jumpTo jumps unconditionally to l.
func (a *asm) jumpTo(l int) {
	a.jumps = append(a.jumps, pending{at: len(a.prog), jt: l, always: true})
	a.stmt(unix.BPF_JMP|unix.BPF_JA, 0)
}

// assemble resolves the jumps and returns the program.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	if len(a.prog) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("confine: seccomp filter has %d instructions, the kernel accepts %d", len(a.prog), unix.BPF_MAXINSNS)
	}
	offset := func(at, l int) (int, error) {
		if l == next {
			return 0, nil
		}
		to := a.labels[l]
		if to <= at {
			return 0, fmt.Errorf("confine: seccomp filter: jump from %d to unbound or backward label %d", at, l)
		}
		return to - at - 1, nil
	}
	for _, j := range a.jumps {
		t, err := offset(j.at, j.jt)
		if err != nil {
			return nil, err
		}
		if j.always {
			a.prog[j.at].K = uint32(t)
			continue
		}
		f, err := offset(j.at, j.jf)
		if err != nil {
			return nil, err
		}
		if t > 255 || f > 255 {
			return nil, fmt.Errorf("confine: seccomp filter: conditional jump at %d too far (%d, %d)", j.at, t, f)
		}
		a.prog[j.at].Jt, a.prog[j.at].Jf = uint8(t), uint8(f)
	}
	return a.prog, nil
}
