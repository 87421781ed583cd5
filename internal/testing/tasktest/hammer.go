package tasktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Probe counts one kind of resource a task could leak.
type Probe func() int

// Goroutines, FDs and the mounts of the tasks' bundles are the probes
// every runtime gets.
func Goroutines() int { return goruntime.NumGoroutine() }

// FDs counts this process's open descriptors.
func FDs() int { return CountEntries("/proc/self/fd") }

// MountsUnder counts the mounts at or below dir (other mounts of the
// namespace come and go with other processes).
func MountsUnder(dir string) Probe {
	return func() int {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return -1
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				n++
			}
		}
		return n
	}
}

// CountEntries counts the entries below dir, recursively (-1 if unreadable;
// 0 if missing).
func CountEntries(dir string) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if p != dir {
			n++
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return n
}

// Hammer runs n task lifecycles (Create with a rootfs bind mount, Start,
// Wait, Delete of the tiny hello module) through the task API over ttrpc,
// par at a time, and then
// checks that every probe (goroutines, fds, the bundles' mounts and files,
// plus extra) comes
// back to its count before the hammer. Goroutines may end up to slack
// above (the ttrpc connection's own). It returns the tasks run.
func Hammer(t *testing.T, rt runtime.Runtime, n, par int, extra map[string]Probe) int {
	t.Helper()
	api, err := ServeTaskAPI(rt, shortTempDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	// Every task gets a bundle of its own whose rootfs is a bind mount of
	// the hello bundle's, as containerd hands over snapshot mounts: the
	// service mounts and unmounts it.
	spec, err := os.ReadFile(filepath.Join(api.Hello, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	bundles := t.TempDir()
	life := func(id string) error {
		// A bound per lifecycle, not for the whole hammer.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir := filepath.Join(bundles, id)
		if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), spec, 0o644); err != nil {
			return err
		}
		return api.Lifecycle(ctx, &taskapi.CreateTaskRequest{ID: id, Bundle: dir,
			Rootfs: []*types.Mount{{Type: "bind", Source: filepath.Join(api.Hello, "rootfs"), Options: []string{"rbind", "ro"}}}})
	}
	if err := life("warm-up"); err != nil { // compiles once, fills a pool
		t.Fatal(err)
	}
	probes := map[string]Probe{"goroutines": Goroutines, "fds": FDs, "bundle mounts": MountsUnder(bundles),
		"bundle entries": func() int { return CountEntries(bundles) }}
	for k, p := range extra {
		probes[k] = p
	}
	const slack = 2
	settle := func(base map[string]int) map[string]int {
		var now map[string]int
		for range 300 { // pools refill and exits are reaped in the background
			now = map[string]int{}
			ok := true
			for k, p := range probes {
				now[k] = p()
				limit := base[k]
				if k == "goroutines" {
					limit += slack
				}
				if base != nil && now[k] > limit {
					ok = false
				}
			}
			if base != nil && ok {
				return now
			}
			time.Sleep(100 * time.Millisecond)
			if base == nil {
				return now
			}
		}
		return now
	}
	time.Sleep(500 * time.Millisecond) // let the warm-up's pool refill
	base := settle(nil)

	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := life(fmt.Sprintf("h%d", i)); err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if api.Service.Len() != 0 {
		t.Errorf("%d tasks left in the service", api.Service.Len())
	}
	after := settle(base)
	for k := range probes {
		limit := base[k]
		if k == "goroutines" {
			limit += slack
		}
		if after[k] > limit {
			t.Errorf("%s: %d before %d lifecycles, %d after: leaked", k, base[k], n, after[k])
		}
	}
	t.Logf("%d lifecycles, %d at a time; before/after: %v / %v", done.Load(), par, base, after)
	return int(done.Load())
}
