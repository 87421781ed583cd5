package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/forked"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/goroutine"
)

// run measures every figure asked for, in an order that keeps them apart:
// the task API (no containerd) first, then through containerd with a warm
// pool, then after a daemon restart without a pool.
func run(ctx context.Context, r *runner) error {
	if r.want(2) {
		if err := r.fig2(ctx); err != nil {
			return fmt.Errorf("figure 2: %w", err)
		}
	}
	if r.want(8) {
		if err := r.fig8(ctx); err != nil {
			return fmt.Errorf("figure 8: %w", err)
		}
	}
	need := false
	for _, f := range []int{1, 3, 4, 5, 6, 7, 9} {
		need = need || r.want(f)
	}
	if !need {
		return nil
	}
	defer r.stop()
	logf("starting containerd + wasm-sandboxer")
	if err := r.start(ctx); err != nil {
		return err
	}
	steps := []struct {
		fig int
		fn  func(context.Context) error
	}{
		{6, r.fig6}, // first: it restarts the daemon on an empty compile cache
		{1, func(ctx context.Context) error {
			return r.fig1(ctx, modeGoroutine, modeBridge, modeForkedWarm, modeRunc)
		}},
		{3, func(ctx context.Context) error {
			return r.fig3(ctx, modeCeiling, modeGoroutine, modeForkedWarm, modeRunc)
		}},
		{5, r.fig5},
		{7, r.fig7},
		{9, r.fig9}, // http.go
		{4, r.fig4},
	}
	for _, s := range steps {
		if !r.want(s.fig) {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("figure %d: %w", s.fig, err)
		}
	}
	if !r.want(1) && !r.want(3) {
		return nil
	}
	logf("restarting wasm-sandboxer with --worker-pool-size 0")
	r.shutdownPods(ctx)
	if err := r.restartSandboxer(true); err != nil {
		return err
	}
	if r.want(1) {
		if err := r.fig1(ctx, modeForkedCold); err != nil {
			return fmt.Errorf("figure 1: %w", err)
		}
	}
	if r.want(3) {
		if err := r.fig3(ctx, modeForkedCold); err != nil {
			return fmt.Errorf("figure 3: %w", err)
		}
	}
	return nil
}

// figure returns the run's figure id, adding it on first use.
func (r *runner) figure(id int, title, unit, value, note string) *bench.Figure {
	if f := r.res.Figure(id); f != nil {
		return f
	}
	f := &bench.Figure{ID: id, Title: title, Unit: unit, Value: value, Note: note}
	r.res.Figures = append(r.res.Figures, f)
	return f
}

func latencyRow(name string, d []time.Duration, err error) *bench.Row {
	ms := bench.Millis(d)
	row := &bench.Row{Name: name, Summary: stats.Summarize(ms), Samples: ms}
	if err != nil {
		row.Err = err.Error()
	}
	return row
}

func settle() { time.Sleep(settleGap) }

// fig1: start to exit of the small program through containerd. The modes
// take turns, one run each in a round, the first mode of a round rotating:
// a drift of the machine's load (other tenants of the VM) then reaches
// every row alike instead of whichever row ran while it lasted.
func (r *runner) fig1(ctx context.Context, modes ...mode) error {
	f := r.figure(1, "start to exit, containerd", "ms", "",
		"create container + task, start, wait, delete through containerd's Go client, small program (hello.wasm; native demo for runc); modes interleaved run by run; ratio to runc")
	pods := make([]*pod, len(modes))
	sts := make([]*steps, len(modes))
	lat := make([][]time.Duration, len(modes))
	errs := make([]error, len(modes))
	for j, m := range modes {
		p, err := r.newPod(ctx, m, "fig1-"+slug(m.row))
		if err != nil {
			return err
		}
		pods[j], sts[j] = p, newSteps()
		settle()
		// The warm-up is not a sample.
		errs[j] = r.runTimed(ctx, m, p, fmt.Sprintf("f1-%s-0", slug(m.row)), io.Discard, nil)
	}
	names := make([]string, len(modes))
	for j, m := range modes {
		names[j] = m.row
	}
	logf("figure 1: %s; %d runs each, interleaved", strings.Join(names, ", "), r.sz.latency)
	for i := range r.sz.latency {
		for k := range modes {
			j := (i + k) % len(modes)
			if errs[j] != nil {
				continue
			}
			settle()
			start := time.Now()
			if err := r.runTimed(ctx, modes[j], pods[j], fmt.Sprintf("f1-%s-%d", slug(modes[j].row), i+1), io.Discard, sts[j]); err != nil {
				errs[j] = fmt.Errorf("run %d: %w", i, err)
				continue
			}
			lat[j] = append(lat[j], time.Since(start))
		}
	}
	for j, m := range modes {
		row := latencyRow(m.row, lat[j], errs[j])
		row.Steps = sts[j].summaries()
		f.Rows = append(f.Rows, row)
	}
	f.SetRatios(rowRunc)
	return nil
}

// fig2: the same through the task API alone, in process, vs the floor.
func (r *runner) fig2(ctx context.Context) error {
	f := r.figure(2, "start to exit, task API", "ms", "",
		"Create, Start, Wait, Delete over ttrpc against the task service, no containerd; floor = bare wazero instantiate + run of the precompiled module; ratio to the floor")
	n := r.sz.latency
	logf("figure 2: floor, %d runs", n)
	d, err := bench.Floor(ctx, tiny.Modules()["hello.wasm"], n, settle)
	f.Rows = append(f.Rows, latencyRow(rowFloor, d, err))

	dir, cacheDir, cache, compiler, done, err := inProcess(ctx, "wasm-bench-task.")
	if err != nil {
		return err
	}
	defer done()
	rows := []struct {
		name string
		rt   func() (runtime.Runtime, func(), error)
	}{
		{rowGoroutine, func() (runtime.Runtime, func(), error) { return compiler, func() {}, nil }},
		{rowForkedWarm, func() (runtime.Runtime, func(), error) { return r.forked(ctx, dir, cache, cacheDir, 2) }},
		{rowForkedCold, func() (runtime.Runtime, func(), error) { return r.forked(ctx, dir, cache, cacheDir, 0) }},
	}
	for i, row := range rows {
		logf("figure 2: %s, %d runs", row.name, n)
		rt, closeRT, err := row.rt()
		if err != nil {
			return err
		}
		sdir := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(sdir, 0o700); err != nil {
			return err
		}
		api, err := tasktest.ServeTaskAPI(rt, sdir)
		if err != nil {
			closeRT()
			return err
		}
		d, err := bench.Repeat(n, settle, func(i int) error { return api.Lifecycle(ctx, api.HelloRequest(fmt.Sprint("t", i+1))) })
		api.Close()
		closeRT()
		f.Rows = append(f.Rows, latencyRow(row.name, d, err))
	}
	f.SetRatios(rowFloor)
	return nil
}

// inProcess is what figures 2 and 8 run the task API on, in this process:
// a temp dir (prefix), an on-disk compile cache in it, and a goroutine
// runtime compiling into that cache. done closes the runtime and removes
// the dir.
func inProcess(ctx context.Context, prefix string) (dir, cacheDir string, cache wazero.CompilationCache, compiler *goroutine.Runtime, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, nil, nil, err
	}
	cacheDir = filepath.Join(dir, "compile-cache")
	if cache, err = wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
		compiler, err = goroutine.New(ctx, goroutine.WithCompilationCache(cache))
	}
	if err != nil {
		cleanDir(dir)
		return "", "", nil, nil, nil, err
	}
	return dir, cacheDir, cache, compiler, func() { compiler.Close(ctx); cleanDir(dir) }, nil
}

// forked is a forked runtime as a pod server makes one (pool of size),
// its compiler filling cache (at cacheDir) for its workers.
func (r *runner) forked(ctx context.Context, dir string, cache wazero.CompilationCache, cacheDir string, size int) (runtime.Runtime, func(), error) {
	compiler, err := engine.NewCompiler(ctx, cache)
	if err != nil {
		return nil, nil, err
	}
	state := filepath.Join(dir, fmt.Sprint("forked-", size))
	rt, err := forked.New(forked.Config{WorkerBinary: filepath.Join(r.out, "bin", "wasm-sandboxer-worker"),
		StateDir: state, CacheDir: cacheDir, Compiler: compiler, CgroupParent: "wasm-bench", PoolSize: size})
	if err != nil {
		compiler.Close(ctx)
		return nil, nil, err
	}
	return rt, func() { rt.Close(); compiler.Close(context.Background()) }, nil
}

// fig3: throughput of tasks through containerd at several concurrencies.
func (r *runner) fig3(ctx context.Context, modes ...mode) error {
	f := r.figure(3, "throughput, containerd", "ms", "tasks/s",
		"figure 1's task, N tasks by C clients at once, no gap; tasks/s = N / wall time, quantiles of each task's latency; ratio to runc at the same C; the ceiling is containerd driving a controller whose tasks run nothing")
	concurrency := []int{1, 4, 16}
	for _, m := range modes {
		p, err := r.newPod(ctx, m, "fig3-"+slug(m.row))
		if err != nil {
			return err
		}
		for _, c := range concurrency {
			n := r.sz.throughput
			logf("figure 3: %s, %d tasks at concurrency %d", m.row, n, c)
			var (
				mu   sync.Mutex
				lat  []time.Duration
				next atomic.Int64
				errs = make([]error, c)
				wg   sync.WaitGroup
			)
			start := time.Now()
			for w := range c {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(n) || errs[w] != nil {
							return
						}
						t0 := time.Now()
						if errs[w] = r.runOnce(ctx, m, p, fmt.Sprintf("f3-%s-%d-%d", slug(m.row), c, i), io.Discard); errs[w] == nil {
							mu.Lock()
							lat = append(lat, time.Since(t0))
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			wall := time.Since(start)
			row := latencyRow(fig3Row(m.row, c), lat, errors.Join(errs...))
			row.Samples = nil
			row.Value = float64(len(lat)) / wall.Seconds()
			f.Rows = append(f.Rows, row)
		}
	}
	for _, c := range concurrency {
		var rows []string
		for _, m := range modes {
			rows = append(rows, fig3Row(m.row, c))
		}
		f.SetRatios(fig3Row(rowRunc, c), rows...)
	}
	return nil
}

func fig3Row(mode string, c int) string { return fmt.Sprintf("%s, C=%d", mode, c) }

// fig5: a module writing 100 MB to stdout through containerd's fifo,
// against the native program doing the same under runc.
func (r *runner) fig5(ctx context.Context) error {
	mb := r.sz.logMB
	f := r.figure(5, fmt.Sprintf("logs, %d MiB to stdout", mb), "MiB/s", "",
		"the program writes 64 KiB blocks to stdout through containerd's stdout fifo to the client (discarded); time from container create to task deleted with all bytes read; ratio to the native writer under runc")
	for _, m := range []mode{modeGoroutine, modeForkedWarm, modeRunc} {
		logf("figure 5: %s, %d runs", m.row, r.sz.logRuns)
		p, err := r.newPod(ctx, m, "fig5-"+slug(m.row))
		if err != nil {
			return err
		}
		var rates []float64
		var runErr error
		for i := range r.sz.logRuns {
			var cw countWriter
			t0 := time.Now()
			if runErr = r.runOnce(ctx, m, p, fmt.Sprintf("f5-%s-%d", slug(m.row), i), &cw, "blast", fmt.Sprint(mb)); runErr != nil {
				break
			}
			if cw.n.Load() != int64(mb)<<20 {
				runErr = fmt.Errorf("read %d bytes of %d", cw.n.Load(), int64(mb)<<20)
				break
			}
			rates = append(rates, float64(mb)/time.Since(t0).Seconds())
		}
		row := &bench.Row{Name: m.row, Summary: stats.Summarize(rates)}
		if runErr != nil {
			row.Err = runErr.Error()
		}
		f.Rows = append(f.Rows, row)
	}
	f.SetRatios(rowRunc)
	return nil
}

type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(b []byte) (int, error) { w.n.Add(int64(len(b))); return len(b), nil }

// fig6: first start of the Go demo module on a daemon with an empty
// compile cache, a second start, and a start in a new pod after a daemon
// restart that kept the on-disk cache.
func (r *runner) fig6(ctx context.Context) error {
	info, err := os.Stat(filepath.Join(r.out, "wasm", "demo.wasm"))
	if err != nil {
		return err
	}
	f := r.figure(6, fmt.Sprintf("compile cache, Go module %.1f MB", float64(info.Size())/1e6), "ms", "",
		"figure 1's task with the Go demo module (echo hi), goroutine mode; first start on a restarted daemon with an empty compile cache, then a second start, then a start in a new pod after a daemon restart (SIGTERM) that kept the cache on disk; ratio to the second")
	var first, second, restarted []time.Duration
	start := func(p *pod, id string, into *[]time.Duration) error {
		t0 := time.Now()
		if err := r.runOnce(ctx, modeGoroutine, p, id, io.Discard, "echo", "hi"); err != nil {
			return err
		}
		*into = append(*into, time.Since(t0))
		return nil
	}
	for i := range r.sz.compile {
		logf("figure 6: fresh daemon %d of %d", i+1, r.sz.compile)
		if err := r.devenv("stop-sandboxer", r.dir); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(r.dir, "sandboxer", "compile-cache")); err != nil {
			return err
		}
		if err := r.devenv("start-sandboxer", r.dir); err != nil {
			return err
		}
		p, err := r.newPod(ctx, modeGoroutine, fmt.Sprint("fig6-", i))
		if err != nil {
			return err
		}
		if err := start(p, fmt.Sprintf("f6-%d-0", i), &first); err != nil {
			return err
		}
		if err := start(p, fmt.Sprintf("f6-%d-1", i), &second); err != nil {
			return err
		}
		if err := r.restartSandboxer(r.poolOff); err != nil {
			return err
		}
		if p, err = r.newPod(ctx, modeGoroutine, fmt.Sprint("fig6-", i, "-restarted")); err != nil {
			return err
		}
		if err := start(p, fmt.Sprintf("f6-%d-2", i), &restarted); err != nil {
			return err
		}
	}
	f.Rows = append(f.Rows, latencyRow("first start (compiles)", first, nil), latencyRow("second start (cached)", second, nil),
		latencyRow("after a daemon restart (on-disk cache)", restarted, nil))
	for _, row := range f.Rows {
		row.Samples = nil
	}
	f.SetRatios("second start (cached)")
	return nil
}

func slug(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			out = append(out, c)
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	return string(out)
}
