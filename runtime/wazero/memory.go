package wazero

import (
	"context"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// limitedAllocator backs one instance's linear memory and refuses to grow
// it past limit, so each task has its own memory cap in one shared wazero
// runtime. A refused grow makes memory.grow return -1 to the guest and is
// remembered, so an exit that follows is reported as OOM.
type limitedAllocator struct {
	limit uint64
	hit   atomic.Bool
}

func (a *limitedAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if max > a.limit {
		max = a.limit
	}
	if capacity > max {
		capacity = max
	}
	return &linearMemory{a: a, buf: make([]byte, 0, capacity)}
}

func (a *limitedAllocator) limitHit() bool { return a.hit.Load() }

type linearMemory struct {
	a   *limitedAllocator
	buf []byte
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit && size > uint64(len(m.buf)) {
		m.a.hit.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		old := len(m.buf)
		m.buf = m.buf[:size]
		clear(m.buf[old:])
		return m.buf
	}
	newCap := uint64(cap(m.buf)) * 2
	if newCap < size {
		newCap = size
	}
	if newCap > m.a.limit {
		newCap = max(m.a.limit, size)
	}
	nb := make([]byte, size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return m.buf
}

func (m *linearMemory) Free() { m.buf = nil }

// withAllocator makes instances created with ctx use a's linear memory.
func withAllocator(ctx context.Context, a *limitedAllocator) context.Context {
	return experimental.WithMemoryAllocator(ctx, a)
}
