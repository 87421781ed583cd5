//go:build linux

package forked

import (
	"context"
	"testing"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/goroutine"
)

// BenchmarkStartToExit compares, in one run, a task's life through the task
// API in goroutine mode, forked mode with a warm pool, and forked mode
// starting a worker per task:
//
//	go test -run '^$' -bench StartToExit -benchtime 200x ./runtime/forked/
func BenchmarkStartToExit(b *testing.B) {
	b.Run("goroutine", func(b *testing.B) {
		rt, err := goroutine.New(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(context.Background())
		tasktest.StartToExit(b, rt, nil)
	})
	b.Run("forked-pool", func(b *testing.B) {
		rt := newRuntimePool(b, 2)
		// A warm pool: each task starts when the pool is full again.
		tasktest.StartToExit(b, rt, func() { rt.waitIdle(b, 2) })
	})
	b.Run("forked-no-pool", func(b *testing.B) { tasktest.StartToExit(b, newRuntimePool(b, 0), nil) })
}

// waitIdle waits until the pool has n idle workers.
func (r *Runtime) waitIdle(b testing.TB, n int) {
	for range 2000 {
		k := r.Idle()
		if k >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatalf("pool did not refill to %d", n)
}
