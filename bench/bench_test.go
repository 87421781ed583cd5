package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/tiny"
	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
)

// The floor and the goroutine mode's task API as Go benchmarks, for
// profiling (figure 2 runs the same code from the driver):
//
//	go test -run '^$' -bench . -benchtime 2000x -cpuprofile cpu.out ./
func BenchmarkFloor(b *testing.B) {
	if _, err := Floor(context.Background(), tiny.Modules()["hello.wasm"], b.N, nil); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkTaskAPIGoroutine(b *testing.B) {
	ctx := context.Background()
	rt, err := runwazero.New(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	api, err := NewTaskAPI(rt, b.TempDir(), tiny.Modules()["hello.wasm"])
	if err != nil {
		b.Fatal(err)
	}
	defer api.Close()
	if err := api.Run(ctx, "warm-up"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := api.Run(ctx, fmt.Sprint("t", i)); err != nil {
			b.Fatal(err)
		}
	}
}
