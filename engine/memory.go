package engine

import (
	"context"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Budget is a container's memory limit, shared by its modules (its own
// and every exec'd one): the sum of their linear memory sizes stays under
// limit, as a cgroup's limit bounds all of a container's processes.
type Budget struct {
	limit atomic.Uint64 // bytes; changed by Update
	used  atomic.Uint64 // bytes of linear memory (sizes) of all instances
}

// NewBudget is a budget of limit bytes.
func NewBudget(limit uint64) *Budget {
	b := &Budget{}
	b.limit.Store(limit)
	return b
}

// reserve takes n more bytes, or fails when that would pass the limit.
func (b *Budget) reserve(n uint64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit.Load() || used+n < used {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *Budget) free(n uint64) { b.used.Add(^(n - 1)) }

// Limit is the budget's limit in bytes.
func (b *Budget) Limit() uint64 { return b.limit.Load() }

// SetLimit changes the limit; it applies to the next memory.grow (memory
// is never taken back).
func (b *Budget) SetLimit(limit uint64) { b.limit.Store(limit) }

// Used is the bytes of linear memory its instances hold (their sizes).
func (b *Budget) Used() uint64 { return b.used.Load() }

// Allocator backs one instance's linear memory within its
// container's Budget, so each container has its own memory cap in one
// shared wazero runtime. A refused grow makes memory.grow return -1 to the
// guest and is remembered, so an exit that follows is reported as OOM.
type Allocator struct {
	b   *Budget
	hit atomic.Bool
	// held is the bytes the instance's buffer holds (its capacity, which
	// the doubling growth keeps above its size), for Stats; peak its high
	// mark.
	held, peak atomic.Uint64
}

// NewAllocator backs one instance's linear memory within b.
func NewAllocator(b *Budget) *Allocator { return &Allocator{b: b} }

func (a *Allocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if l := a.b.limit.Load(); max > l {
		max = l
	}
	if capacity > max {
		capacity = max
	}
	m := &linearMemory{a: a}
	m.setBuf(make([]byte, 0, capacity))
	return m
}

// LimitHit reports whether a grow was refused by the budget.
func (a *Allocator) LimitHit() bool { return a.hit.Load() }

// Held is the bytes the instance's buffer holds, for stats; Peak its high
// mark.
func (a *Allocator) Held() uint64 { return a.held.Load() }
func (a *Allocator) Peak() uint64 { return a.peak.Load() }

// Limit is the limit of the budget the allocator draws from.
func (a *Allocator) Limit() uint64 { return a.b.Limit() }

type linearMemory struct {
	a   *Allocator
	buf []byte
}

func (m *linearMemory) setBuf(b []byte) {
	m.buf = b
	h := uint64(cap(b))
	m.a.held.Store(h)
	if h > m.a.peak.Load() {
		m.a.peak.Store(h)
	}
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	old := uint64(len(m.buf))
	if size > old {
		if !m.a.b.reserve(size - old) {
			m.a.hit.Store(true)
			return nil
		}
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		clear(m.buf[old:])
		return m.buf
	}
	newCap := max(uint64(cap(m.buf))*2, size)
	if l := m.a.b.limit.Load(); newCap > l {
		newCap = max(l, size)
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.setBuf(nb)
	return m.buf
}

func (m *linearMemory) Free() {
	m.a.b.free(uint64(len(m.buf)))
	m.a.held.Store(0)
	m.buf = nil
}

// WithAllocator makes instances created with ctx use a's linear memory.
func WithAllocator(ctx context.Context, a *Allocator) context.Context {
	return experimental.WithMemoryAllocator(ctx, a)
}
