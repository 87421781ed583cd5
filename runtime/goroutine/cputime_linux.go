package goroutine

import (
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// cpuMeter measures the CPU time of one module: the module's goroutine is
// locked to its OS thread for its whole run (and the thread ends with it),
// so that thread's CPU clock is the module's CPU time, in nanoseconds, as
// the kernel accounts it (docs/RATIONALE.md, "How is a goroutine-mode
// module's CPU time measured?").
type cpuMeter struct {
	tid   atomic.Int64  // the module's thread while it runs; 0 before and after
	base  atomic.Uint64 // the thread's CPU time when the module began
	final atomic.Uint64 // the module's CPU time once it ended
}

// begin locks the calling goroutine to its thread for good (the thread
// exits with the goroutine) and starts measuring.
func (m *cpuMeter) begin() {
	runtime.LockOSThread()
	m.base.Store(ownThreadCPU())
	m.tid.Store(int64(unix.Gettid()))
}

// end records the module's CPU time; called on the module's thread.
func (m *cpuMeter) end() {
	m.final.Store(ownThreadCPU() - m.base.Load())
	m.tid.Store(0)
}

// read is the module's CPU time so far, from any goroutine.
func (m *cpuMeter) read() uint64 {
	if tid := m.tid.Load(); tid != 0 {
		var ts unix.Timespec
		if unix.ClockGettime(threadClock(int(tid)), &ts) == nil && m.tid.Load() == tid {
			return uint64(ts.Nano()) - m.base.Load()
		}
	}
	return m.final.Load()
}

// threadClock is the CPU-time clock of thread tid of this process
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in the kernel's
// include/linux/posix-timers.h).
func threadClock(tid int) int32 {
	return (^int32(tid))<<3 | 6
}

func ownThreadCPU() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}
