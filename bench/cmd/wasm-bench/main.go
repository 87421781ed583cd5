// Command wasm-bench measures wasm-sandboxer against its baselines in one
// run and prints the Markdown table (make bench, make bench-quick):
//
//	wasm-bench [-top REPO] [-out REPO/_output] [-quick] [-only 1,6] [-json FILE] [-plot FILE.png]
//
// It starts a private containerd + wasm-sandboxer with hack/devenv.sh
// (with runc's shim and a pinned pause image), imports the images
// (make images bench-images), runs every figure of docs/performance.md and
// tears everything down. It needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
)

// sizes are a run's sample counts.
type sizes struct {
	latency    int   // figures 1, 2 and 7's runs of the small module per row
	cri        int   // figure 7's pods per handler
	throughput int   // figure 3's tasks per concurrency
	density    []int // figure 4's idle containers
	logRuns    int   // figure 5's 100 MB writes per row
	logMB      int
	compile    int // figure 6's fresh daemons
	// figure 8: rounds, MiB hashed (gzip: an eighth), small writes
	computeRounds, computeMiB, computeWrites int
}

var (
	full = sizes{latency: 200, cri: 30, throughput: 1000, density: []int{100, 1000}, logRuns: 5, logMB: 100, compile: 3,
		computeRounds: 5, computeMiB: 64, computeWrites: 200000}
	quick = sizes{latency: 20, cri: 3, throughput: 40, density: []int{30}, logRuns: 1, logMB: 100, compile: 1,
		computeRounds: 2, computeMiB: 16, computeWrites: 50000}
)

// settleGap is the idle time before each timed run of figures 1 and 2,
// every row alike: a warm pool refills in it (30 ms of refill delay, a
// worker start, its spare cgroup: 60–80 ms after the run), as it would
// between the starts of a node that is not saturated, and no row's
// background work lands in the next row's run (figure 3 has no gap).
const settleGap = 100 * time.Millisecond

func main() {
	if len(os.Args) == 3 && os.Args[1] == ceilingArg {
		check(serveCeiling(os.Args[2]))
		return
	}
	top := flag.String("top", "..", "the repository (hack/devenv.sh)")
	out := flag.String("out", "", "the build output (default TOP/_output)")
	q := flag.Bool("quick", false, "a reduced run (under 3 minutes)")
	jsonOut := flag.String("json", "", "results `file` to write (make bench: results/latest.json, make bench-quick: results/latest-quick.json)")
	plotOut := flag.String("plot", "", "latency plot (PNG) to write")
	only := flag.String("only", "", "comma-separated figure numbers to run (default all)")
	render := flag.String("render", "", "print the table of a results `file` and exit")
	flag.Parse()
	if *render != "" {
		r, err := bench.ReadJSON(*render)
		check(err)
		fmt.Print(r.Markdown())
		return
	}
	if os.Geteuid() != 0 {
		fatal(fmt.Errorf("needs root: containerd, runc and the forked runtime's workers do"))
	}
	t, err := filepath.Abs(*top)
	check(err)
	o := *out
	if o == "" {
		o = filepath.Join(t, "_output")
	}
	sz := full
	if *q {
		sz = quick
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r := &bench.Results{Started: time.Now().UTC(), Quick: *q, Machine: machine(), Commands: []string{strings.Join(os.Args, " ")}}
	err = run(ctx, &runner{top: t, out: o, sz: sz, res: r, only: figures(*only)})
	r.Seconds = time.Since(r.Started).Seconds()
	targets(r, sz)
	if *jsonOut != "" {
		if werr := r.WriteJSON(*jsonOut); werr != nil && err == nil {
			err = werr
		}
	}
	if *plotOut != "" {
		figs := []*bench.Figure{}
		for _, id := range []int{2, 1, 7} {
			if f := r.Figure(id); f != nil {
				figs = append(figs, f)
			}
		}
		if perr := bench.PlotLatency(*plotOut, "start to exit (#1 containerd, #2 task API) and CRI start to running (#7)", figs...); perr != nil && err == nil {
			err = perr
		}
	}
	fmt.Printf("\n%s\nmachine: %d × %s, %s, kernel %s, %s; %s; %.0f s\n", r.Markdown(), r.Machine.CPUs, r.Machine.CPUModel,
		r.Machine.MemTotal, r.Machine.Kernel, r.Machine.Cgroup, r.Machine.Runc, r.Seconds)
	if err != nil {
		fatal(err)
	}
}

func figures(s string) map[int]bool {
	if s == "" {
		return nil
	}
	m := map[int]bool{}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		check(err)
		m[n] = true
	}
	return m
}

// targets checks the issues' goals: figure 1's, and figure 8's speed of
// compute against wazero run.
func targets(r *bench.Results, sz sizes) {
	computeTargets(r, sz)
	f := r.Figure(1)
	if f == nil {
		return
	}
	if v := f.Ratio(rowRunc, rowGoroutine); !math.IsNaN(v) {
		r.Targets = append(r.Targets, bench.Target{What: "#1 runc / goroutine (goroutine is this many times faster)", Ratio: v, Goal: "≥ 5×", Met: v >= 5})
	}
	if v := f.Ratio(rowForkedWarm, rowGoroutine); !math.IsNaN(v) {
		r.Targets = append(r.Targets, bench.Target{What: "#1 forked warm pool / goroutine", Ratio: v, Goal: "≤ 1.3×", Met: v <= 1.3})
	}
	if f := r.Figure(3); f != nil {
		if v := f.Ratio(fig3Row(rowGoroutine, 16), fig3Row(rowCeiling, 16)); !math.IsNaN(v) {
			r.Targets = append(r.Targets, bench.Target{What: "#3 goroutine tasks/s / the ceiling's, C=16", Ratio: v, Goal: "≥ 0.7×", Met: v >= 0.7})
		}
	}
}

// computeTargets: each runtime's speed on each workload of figure 8 is at
// least 0.9× wazero run's (its time at most 1/0.9 of it).
func computeTargets(r *bench.Results, sz sizes) {
	f := r.Figure(8)
	if f == nil {
		return
	}
	for _, w := range sz.workloads() {
		for _, row := range []string{rowGoroutine, rowForkedWarm} {
			if v := f.Ratio(fig8Row(w, rowWazeroRun), fig8Row(w, row)); !math.IsNaN(v) {
				r.Targets = append(r.Targets, bench.Target{What: fmt.Sprintf("#8 %s speed / wazero run's (%s)", row, w.name), Ratio: v, Goal: "≥ 0.9×", Met: v >= 0.9})
			}
		}
	}
}

func machine() bench.Machine {
	m := bench.Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), Cgroup: "cgroup v1"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		m.Cgroup = "cgroup v2"
	}
	if b, err := exec.Command("runc", "--version").Output(); err == nil {
		m.Runc = strings.SplitN(string(b), "\n", 2)[0]
	}
	return m
}

func check(err error) {
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "wasm-bench:", err)
	os.Exit(1)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}
