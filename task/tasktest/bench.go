package tasktest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"

	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// StartToExit measures, b.N times, a task's whole life through the task
// API over ttrpc, as containerd drives it: Create, Start, Wait, Delete of
// the tiny hello module. It reports the median and p90 besides the mean.
// settle, when set, runs before each task with the clock stopped (e.g. to
// let a pool of workers refill).
func StartToExit(b *testing.B, rt task.Runtime, settle func()) {
	f := serve(b, rt)
	bdl := newBundle(b, []string{"/hello.wasm"}, nil)
	bdl.writeSpec(b)
	run := func(id string) {
		if _, err := f.client.Create(f.ctx, bdl.createRequest(id)); err != nil {
			b.Fatalf("create: %v", err)
		}
		if _, err := f.client.Start(f.ctx, &taskapi.StartRequest{ID: id}); err != nil {
			b.Fatalf("start: %v", err)
		}
		w, err := f.client.Wait(f.ctx, &taskapi.WaitRequest{ID: id})
		if err != nil || w.ExitStatus != 0 {
			b.Fatalf("wait: %v, exit %d", err, w.GetExitStatus())
		}
		if _, err := f.client.Delete(f.ctx, &taskapi.DeleteRequest{ID: id}); err != nil {
			b.Fatalf("delete: %v", err)
		}
	}
	run("warm-up") // compiles the module once, fills a pool
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if settle != nil {
			b.StopTimer()
			settle()
			b.StartTimer()
		}
		start := time.Now()
		run(fmt.Sprintf("t%d", i))
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	q := func(p float64) float64 { return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "median-µs")
	b.ReportMetric(q(0.9), "p90-µs")
}
