package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/fifo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// rowWazeroRun is the reference of figure 8: the same module under the
// wazero CLI of the version go.mod pins, built from upstream (make bench
// builds it as _output/bin/wazero-ref).
const rowWazeroRun = "wazero run"

// workload is one of hack/wasm/compute's.
type workload struct {
	name string
	arg  int
}

func (s sizes) workloads() []workload {
	return []workload{{"sha256", s.computeMiB}, {"gzip", s.computeMiB / 8}, {"writes", s.computeWrites}}
}

// fig8: the guest's own timing of CPU-bound work in each runtime against
// `wazero run` of the same binary, rounds interleaved; then how fast a
// kill ends a guest spinning in a loop.
func (r *runner) fig8(ctx context.Context) error {
	f := r.figure(8, "compute, timed in the guest", "ms", "",
		"hack/wasm/compute (Go, wasip1): sha256 over MiB, a gzip round trip, small writes (host calls); median of the guest's own timing, with the task's life (create to delete; wazero run: the process) as a step; rows interleaved round by round; ratio to wazero run (the goal: ≤ 1.11, i.e. ≥ 0.9× its speed)")
	bin, err := os.ReadFile(filepath.Join(r.out, "wasm", "compute.wasm"))
	if err != nil {
		return fmt.Errorf("compute module (make wasm): %w", err)
	}
	ref := filepath.Join(r.out, "bin", "wazero-ref")
	if _, err := os.Stat(ref); err != nil {
		return fmt.Errorf("reference wazero CLI (make wazero-ref): %w", err)
	}
	dir, cacheDir, cache, compiler, done, err := inProcess(ctx, "wasm-bench-compute.")
	if err != nil {
		return err
	}
	defer done()
	fk, closeFk, err := r.forked(ctx, dir, cache, cacheDir, 2)
	if err != nil {
		return err
	}
	defer closeFk()
	gAPI, err := tasktest.ServeTaskAPI(compiler, filepath.Join(dir, "g"))
	if err != nil {
		return err
	}
	defer gAPI.Close()
	fAPI, err := tasktest.ServeTaskAPI(fk, filepath.Join(dir, "f"))
	if err != nil {
		return err
	}
	defer fAPI.Close()
	modPath := filepath.Join(dir, "compute.wasm")
	if err := os.WriteFile(modPath, bin, 0o644); err != nil {
		return err
	}
	refCache := filepath.Join(dir, "ref-cache")

	type runFn func(ctx context.Context, w workload, id string) (guest, total time.Duration, err error)
	task := func(api *tasktest.TaskAPI) runFn {
		return func(ctx context.Context, w workload, id string) (time.Duration, time.Duration, error) {
			b, err := computeBundle(filepath.Join(dir, "b-"+id), bin, "/compute.wasm", w.name, strconv.Itoa(w.arg))
			if err != nil {
				return 0, 0, err
			}
			defer os.RemoveAll(filepath.Dir(b))
			return runWithStdout(ctx, api, id, b, w)
		}
	}
	modes := []struct {
		row string
		run runFn
	}{
		{rowWazeroRun, func(ctx context.Context, w workload, _ string) (time.Duration, time.Duration, error) {
			var out bytes.Buffer
			cmd := exec.CommandContext(ctx, ref, "run", "-cachedir", refCache, modPath, w.name, strconv.Itoa(w.arg))
			cmd.Stdout = &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return 0, 0, fmt.Errorf("wazero run: %w", err)
			}
			total := time.Since(start)
			guest, err := guestTime(out.String(), w)
			return guest, total, err
		}},
		{rowGoroutine, task(gAPI)},
		{rowForkedWarm, task(fAPI)},
	}
	rounds := r.sz.computeRounds
	logf("figure 8: %d rounds of %v in %d modes, interleaved", rounds, r.sz.workloads(), len(modes))
	type key struct{ w, row string }
	guest, total := map[key][]float64{}, map[key][]float64{}
	errs := map[key]error{}
	for i := -1; i < rounds; i++ { // round -1 warms up: compiles, fills caches
		for _, w := range r.sz.workloads() {
			for k := range modes {
				m := modes[(k+max(i, 0))%len(modes)]
				kk := key{w.name, m.row}
				if errs[kk] != nil {
					continue
				}
				settle()
				g, t, err := m.run(ctx, w, fmt.Sprintf("c%d-%s-%s", i+1, w.name, slug(m.row)))
				if err != nil {
					errs[kk] = err
					continue
				}
				if i >= 0 {
					guest[kk] = append(guest[kk], float64(g)/float64(time.Millisecond))
					total[kk] = append(total[kk], float64(t)/float64(time.Millisecond))
				}
			}
		}
	}
	for _, w := range r.sz.workloads() {
		var rows []string
		for _, m := range modes {
			kk := key{w.name, m.row}
			row := &bench.Row{Name: fig8Row(w, m.row), Summary: stats.Summarize(guest[kk]), Samples: guest[kk],
				Steps: []bench.Step{{Name: "in the guest", Summary: stats.Summarize(guest[kk])}, {Name: "task's life", Summary: stats.Summarize(total[kk])}}}
			if errs[kk] != nil {
				row.Err = errs[kk].Error()
			}
			f.Rows = append(f.Rows, row)
			rows = append(rows, row.Name)
		}
		f.SetRatios(fig8Row(w, rowWazeroRun), rows...)
	}
	for _, m := range modes[1:] {
		api := map[string]*tasktest.TaskAPI{rowGoroutine: gAPI, rowForkedWarm: fAPI}[m.row]
		n := 4 * max(rounds, 3)
		logf("figure 8: kill of a spinning guest, %s, %d runs", m.row, n)
		d, err := killLatency(ctx, api, dir, m.row, n)
		f.Rows = append(f.Rows, latencyRow(killRow(m.row), d, err))
	}
	return nil
}

func fig8Row(w workload, row string) string { return fmt.Sprintf("%s %d: %s", w.name, w.arg, row) }

func killRow(row string) string { return "kill of a spinning guest: " + row }

// computeBundle writes a bundle at dir/bundle whose rootfs holds module at
// path and whose process runs it with args; it returns the bundle's path.
func computeBundle(dir string, module []byte, path string, args ...string) (string, error) {
	b := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(filepath.Join(b, "rootfs"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(b, "rootfs", filepath.Base(path)), module, 0o755); err != nil {
		return "", err
	}
	spec, err := json.Marshal(&specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: append([]string{path}, args...), Cwd: "/"}})
	if err != nil {
		return "", err
	}
	return b, os.WriteFile(filepath.Join(b, "config.json"), spec, 0o644)
}

// runWithStdout runs task id of bundle to its end through api, as
// containerd would with a stdout fifo, and returns the guest's timing from
// its output and the task's whole life.
func runWithStdout(ctx context.Context, api *tasktest.TaskAPI, id, bundle string, w workload) (time.Duration, time.Duration, error) {
	ctx = namespaces.WithNamespace(ctx, tasktest.Namespace)
	path := filepath.Join(filepath.Dir(bundle), "stdout")
	rd, err := fifo.OpenFifo(ctx, path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer rd.Close()
	out := make(chan string, 1)
	go func() { b, _ := io.ReadAll(rd); out <- string(b) }()
	start := time.Now()
	if _, err := api.Client.Create(ctx, &taskapi.CreateTaskRequest{ID: id, Bundle: bundle, Stdout: path}); err != nil {
		return 0, 0, fmt.Errorf("create: %w", err)
	}
	if _, err := api.Client.Start(ctx, &taskapi.StartRequest{ID: id}); err != nil {
		return 0, 0, fmt.Errorf("start: %w", err)
	}
	wr, err := api.Client.Wait(ctx, &taskapi.WaitRequest{ID: id})
	if err != nil {
		return 0, 0, fmt.Errorf("wait: %w", err)
	}
	if _, err := api.Client.Delete(ctx, &taskapi.DeleteRequest{ID: id}); err != nil {
		return 0, 0, fmt.Errorf("delete: %w", err)
	}
	total := time.Since(start)
	if wr.ExitStatus != 0 {
		return 0, 0, fmt.Errorf("task %s exited %d", id, wr.ExitStatus)
	}
	select {
	case s := <-out:
		g, err := guestTime(s, w)
		return g, total, err
	case <-time.After(10 * time.Second):
		return 0, 0, fmt.Errorf("task %s: no end of stdout", id)
	}
}

// guestTime parses compute's "<workload> <ms>" line.
func guestTime(out string, w workload) (time.Duration, error) {
	name, ms, ok := strings.Cut(strings.TrimSpace(out), " ")
	v, err := strconv.ParseFloat(ms, 64)
	if !ok || name != w.name || err != nil {
		return 0, fmt.Errorf("compute printed %q, want %q and milliseconds", out, w.name)
	}
	return time.Duration(v * float64(time.Millisecond)), nil
}

// killLatency starts a guest spinning in a loop n times and measures from
// Kill (SIGKILL) to Wait's answer.
func killLatency(ctx context.Context, api *tasktest.TaskAPI, dir, row string, n int) ([]time.Duration, error) {
	ctx = namespaces.WithNamespace(ctx, tasktest.Namespace)
	b, err := computeBundle(filepath.Join(dir, "spin-"+slug(row)), tiny.Modules()["spin.wasm"], "/spin.wasm")
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range n {
		id := fmt.Sprintf("spin-%s-%d", slug(row), i)
		if _, err := api.Client.Create(ctx, &taskapi.CreateTaskRequest{ID: id, Bundle: b}); err != nil {
			return out, err
		}
		if _, err := api.Client.Start(ctx, &taskapi.StartRequest{ID: id}); err != nil {
			return out, err
		}
		time.Sleep(20 * time.Millisecond) // spinning, not starting
		start := time.Now()
		if _, err := api.Client.Kill(ctx, &taskapi.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL)}); err != nil {
			return out, err
		}
		wr, err := api.Client.Wait(ctx, &taskapi.WaitRequest{ID: id})
		if err != nil {
			return out, err
		}
		out = append(out, time.Since(start))
		if wr.ExitStatus != 137 {
			return out, fmt.Errorf("killed spinning guest exited %d, want 137", wr.ExitStatus)
		}
		if _, err := api.Client.Delete(ctx, &taskapi.DeleteRequest{ID: id}); err != nil {
			return out, err
		}
	}
	return out, nil
}
