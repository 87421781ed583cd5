//go:build linux

package forked

import (
	"context"
	"testing"

	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
	"github.com/wasm-sandboxer/wasm-sandboxer/task/tasktest"
)

// BenchmarkStartToExit compares, in one run, a task's life through the task
// API in goroutine mode, forked mode with a warm pool, and forked mode
// starting a worker per task:
//
//	go test -run '^$' -bench StartToExit -benchtime 200x ./runtime/forked/
func BenchmarkStartToExit(b *testing.B) {
	b.Run("goroutine", func(b *testing.B) {
		rt, err := runwazero.New(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(context.Background())
		tasktest.StartToExit(b, rt)
	})
	b.Run("forked-pool", func(b *testing.B) { tasktest.StartToExit(b, newRuntimePool(b, 2)) })
	b.Run("forked-no-pool", func(b *testing.B) { tasktest.StartToExit(b, newRuntimePool(b, 0)) })
}
