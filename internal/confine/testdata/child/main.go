//go:build linux

// Command child runs one scenario of the confine tests in a process of its
// own, so that filters and dropped capabilities never reach the test
// process. The tests build it with CGO_ENABLED=0, as syscall.AllThreadsSyscall
// requires.
//
//	child SCENARIO DIR DEMO_WASM
//
// DIR is a scratch directory, DEMO_WASM the hack/wasm/demo module built for
// wasip1. The child prints one JSON object of results (check name -> "ok",
// an errno name such as "EPERM", a value, or an error text) and exits 0;
// it exits 1 when a confinement step itself fails. Scenarios:
//
//	caps      NoNewPrivs and DropCapabilities with many threads
//	caps-noproc  the same without /proc (run it in a new mount namespace)
//	deny      InstallSeccomp(Policy{}), then calls the filter must refuse
//	allow     the full lock-down, then what a worker does (threads, files,
//	          time, randomness, wazero running tiny and demo modules)
//	sockets   InstallSeccomp(Policy{AllowSockets: true}), then sockets
//	tsync     a thread started before InstallSeccomp is filtered too
//	rlimits   SetRlimits(DefaultRlimits())
//	workload  the allow scenario's work without any lock-down, for strace
//
// The allow-list comes from the workload scenario run under strace; each
// part is marked by a write(2, "=== PART ===\n") line in the trace:
//
//	CGO_ENABLED=0 go build -o /tmp/child ./internal/confine/testdata/child
//	GOOS=wasip1 GOARCH=wasm go build -o /tmp/demo.wasm ./hack/wasm/demo
//	strace -f -qq -o /tmp/trace.txt /tmp/child workload "$(mktemp -d)" /tmp/demo.wasm
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// results maps a check name to its outcome.
type results map[string]string

// errno records the outcome of a call (see errnoName).
func (r results) errno(name string, err error) { r[name] = errnoName(err) }

// errnoName is the outcome of a call: "ok", the errno name such as
// "EPERM", or the error text.
func errnoName(err error) string {
	var e unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	default:
		return err.Error()
	}
}

// raw records the outcome of a raw system call.
func (r results) raw(name string, e unix.Errno) {
	if e == 0 {
		r.errno(name, nil)
		return
	}
	r.errno(name, e)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: child SCENARIO DIR DEMO_WASM")
		os.Exit(2)
	}
	scenario, dir, demo := os.Args[1], os.Args[2], os.Args[3]
	res := results{}
	var err error
	switch scenario {
	case "caps":
		err = caps(res, dir, true)
	case "caps-noproc":
		err = caps(res, dir, false)
	case "deny":
		err = deny(res)
	case "allow":
		err = allow(res, dir, demo)
	case "sockets":
		err = sockets(res)
	case "tsync":
		err = tsync(res)
	case "rlimits":
		err = rlimits(res)
	case "workload":
		var p *stdio
		if p, err = newStdio(); err != nil {
			break
		}
		err = workload(res, dir, demo, p, func(section string) {
			// Visible in strace as write(2, "=== section ===\n", ...).
			_, _ = unix.Write(2, []byte("=== "+section+" ===\n"))
		})
	default:
		err = fmt.Errorf("unknown scenario %q", scenario)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", scenario+":", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
}

// lockedThreads starts n goroutines, each locked to its own OS thread and
// blocked until release is closed, and returns their thread ids. While
// they are blocked the process has at least n+1 threads.
func lockedThreads(n int, release <-chan struct{}, work func(tid int)) []int {
	tids := make(chan int)
	for range n {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			<-release
			if work != nil {
				work(unix.Gettid())
			}
		}()
	}
	out := make([]int, 0, n)
	for range n {
		out = append(out, <-tids)
	}
	return out
}

// taskStatus returns the named fields of /proc/self/task/*/status, by
// thread id.
func taskStatus(fields ...string) (map[string]map[string]string, error) {
	paths, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		tid := filepath.Base(filepath.Dir(p))
		out[tid] = map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			for _, f := range fields {
				if k == f {
					out[tid][k] = strings.TrimSpace(v)
				}
			}
		}
	}
	return out, nil
}

// recordTasks stores the status fields of every thread as "task/TID/FIELD"
// and the number of threads as "tasks".
func recordTasks(res results, fields ...string) error {
	st, err := taskStatus(fields...)
	if err != nil {
		return err
	}
	for tid, kv := range st {
		for k, v := range kv {
			res["task/"+tid+"/"+k] = v
		}
	}
	res["tasks"] = strconv.Itoa(len(st))
	return nil
}
