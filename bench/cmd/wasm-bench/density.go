package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
)

// minAvailable is the memory figure 4 leaves the machine: it stops adding
// containers below it and reports how many it reached.
const minAvailable = 3 << 30

// fig4: memory of idle sleeping containers, each in its own pod.
func (r *runner) fig4(ctx context.Context) error {
	f := r.figure(4, "density, idle containers", "MiB", "MiB/container",
		"N containers sleeping (demo sleep; native for runc), each in a pod of its own; value = (RSS after − RSS before) / N, summed over the daemon and its workers, or runc's shims and their processes; quantiles of each container's own processes where it has any (PSS in the JSON); forked pods again once their pools drained (--worker-pool-idle, 30 s); ratio to runc at the same N")
	for _, n := range r.sz.density {
		var rows []string
		for _, m := range []mode{modeGoroutine, modeForkedWarm, modeRunc} {
			out, err := r.density(ctx, m, n)
			if err != nil {
				return err
			}
			for _, row := range out {
				f.Rows = append(f.Rows, row)
				rows = append(rows, row.Name)
			}
		}
		f.SetRatios(densityRow(rowRunc, n), rows...)
	}
	return nil
}

func densityRow(mode string, n int) string { return fmt.Sprintf("%s ×%d", mode, n) }

// poolIdle is the daemon's --worker-pool-idle default: figure 4 measures
// forked pods again once their pools have drained.
const poolIdle = 30 * time.Second

// rowDrained names figure 4's forked row measured after poolIdle.
const rowDrained = "forked, pools drained"

// density measures n idle containers of m: one row, and for forked pods a
// second once their pools have drained.
func (r *runner) density(ctx context.Context, m mode, n int) ([]*bench.Row, error) {
	name := densityRow(m.row, n)
	logf("figure 4: %s", name)
	roots := func() []int {
		if m.runtime == runcRuntime {
			return shimPids(r.sock())
		}
		b, _ := os.ReadFile(filepath.Join(r.dir, "sandboxer.pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return []int{pid}
	}
	time.Sleep(time.Second)
	before := sumMem(descendants(roots()))

	var (
		mu      sync.Mutex
		cts     []*container
		next    atomic.Int64
		stopped atomic.Bool
		errs    = make([]error, 4)
		wg      sync.WaitGroup
	)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if availableMem() < minAvailable {
					stopped.Store(true)
					return
				}
				id := fmt.Sprintf("f4-%s-%d", slug(name), i)
				p, err := r.newPod(ctx, m, id)
				var ct *container
				if err == nil {
					ct, err = r.startContainer(ctx, m, p, id, io.Discard, "sleep", "3600")
				}
				if err != nil {
					errs[w] = err
					stopped.Store(true)
					return
				}
				mu.Lock()
				cts = append(cts, ct)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the last ones reach their sleep
	reached := len(cts)
	measure := func(name string) *bench.Row {
		procs := descendants(roots())
		after := sumMem(procs)
		row := &bench.Row{Name: name}
		if reached > 0 {
			row.Value = float64(after.rss-before.rss) / float64(reached) / (1 << 20)
			row.Summary = stats.Summarize(perContainer(procs, m))
			if row.Summary.Count == 0 {
				row.Summary.Count = reached
			}
			row.Samples = []float64{float64(after.pss-before.pss) / float64(reached) / (1 << 20)} // PSS per container
		}
		switch err := errors.Join(errs...); {
		case err != nil:
			row.Err = fmt.Sprintf("after %d containers: %v", reached, err)
		case reached < n:
			row.Err = fmt.Sprintf("stopped at %d containers: less than %d GiB of memory left (%.1f MiB/container so far)", reached, minAvailable>>30, row.Value)
		}
		logf("figure 4: %s: %d containers, %.2f MiB/container", name, reached, row.Value)
		return row
	}
	rows := []*bench.Row{measure(name)}
	if m.sandboxer == "wasm-forked" && reached > 0 {
		time.Sleep(poolIdle + 3*time.Second)
		rows = append(rows, measure(densityRow(rowDrained, n)))
	}
	r.removeAll(ctx, cts)
	r.shutdownPods(ctx)
	return rows, nil
}

// removeAll kills and deletes the containers, four at a time.
func (r *runner) removeAll(ctx context.Context, cts []*container) {
	ch := make(chan *container)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ct := range ch {
				if err := ct.remove(ctx, true); err != nil {
					logf("remove %s: %v", ct.c.ID(), err)
				}
			}
		}()
	}
	for _, ct := range cts {
		ch <- ct
	}
	close(ch)
	wg.Wait()
}

type proc struct {
	pid, ppid int
	rss, pss  int64 // bytes
	comm      string
}

type mem struct{ rss, pss int64 }

func sumMem(ps []proc) mem {
	var m mem
	for _, p := range ps {
		m.rss += p.rss
		m.pss += p.pss
	}
	return m
}

// perContainer is, per container, the RSS (MiB) of the processes it has
// of its own: a forked worker, or runc's shim and its children. Goroutine
// mode has none.
func perContainer(ps []proc, m mode) []float64 {
	var out []float64
	switch {
	case m.runtime == runcRuntime:
		byShim := map[int]int64{}
		parent := map[int]int{}
		for _, p := range ps {
			parent[p.pid] = p.ppid
		}
		for _, p := range ps {
			top := p.pid
			for parent[top] != 0 { // up to the shim (a root)
				top = parent[top]
			}
			byShim[top] += p.rss
		}
		for _, v := range byShim {
			out = append(out, float64(v)/(1<<20))
		}
	case m.sandboxer == "wasm-forked":
		for _, p := range ps {
			if p.comm == "wasm-sandboxer-" { // wasm-sandboxer-worker, cut to 15 characters
				out = append(out, float64(p.rss)/(1<<20))
			}
		}
	}
	return out
}

// procs reads every process's parent, RSS and PSS from /proc.
func procs() map[int]proc {
	out := map[int]proc{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < 0 {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		p := proc{pid: pid, ppid: ppid, comm: string(stat[open+1 : end])}
		p.rss, p.pss = rollup(pid)
		out[pid] = p
	}
	return out
}

// rollup reads Rss and Pss (bytes) from /proc/PID/smaps_rollup.
func rollup(pid int) (rss, pss int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "Rss":
			rss = kb << 10
		case "Pss":
			pss = kb << 10
		}
	}
	return rss, pss
}

// descendants returns roots and every process below them.
func descendants(roots []int) []proc {
	all := procs()
	children := map[int][]int{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []proc
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		p, ok := all[pid]
		if !ok || seen[pid] {
			continue
		}
		seen[pid] = true
		if slices.Contains(roots, pid) {
			p.ppid = 0 // the top of its tree
		}
		out = append(out, p)
		queue = append(queue, children[pid]...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// shimPids are the runc shims serving the containerd at sock.
func shimPids(sock string) []int {
	var out []int
	for pid, p := range procs() {
		if p.comm != "containerd-shim" { // containerd-shim-runc-v2, cut to 15 characters
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmd, []byte(sock)) {
			out = append(out, pid)
		}
	}
	return out
}

func availableMem() int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cleanDir unmounts whatever is left below dir (deepest first) and removes it.
func cleanDir(dir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		unix.Unmount(m, unix.MNT_DETACH)
	}
	os.RemoveAll(dir)
}
