package bench

import (
	"context"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// The floor as a Go benchmark, for profiling (figure 2 runs the same code
// from the driver; the task API's rows are tasktest.StartToExit,
// BenchmarkStartToExit in runtime/forked):
//
//	go test -run '^$' -bench . -benchtime 2000x -cpuprofile cpu.out ./
func BenchmarkFloor(b *testing.B) {
	if _, err := Floor(context.Background(), tiny.Modules()["hello.wasm"], b.N, nil); err != nil {
		b.Fatal(err)
	}
}
