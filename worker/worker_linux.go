// Package worker is the forked runtime's worker program: a process that
// confines itself, then runs one Wasm module with package engine, talking
// to its pod server over the protocol of internal/workerproto. It links
// no containerd, ttrpc or gRPC package (a test pins it): it starts on
// every pool refill, and a confined process holds as little as it can.
package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
)

// workerSide is the worker side of the control socket.
type workerSide struct {
	mu     sync.Mutex // serialises writes
	enc    *json.Encoder
	dec    *json.Decoder
	rights *workerproto.RightsReader // the descriptors that came with messages
}

func (w *workerSide) send(m workerproto.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(m) //nolint:errcheck // the daemon may be gone: nothing to do
}

// Main is the whole life of a worker process: confine itself, say it is
// idle, take one job, compile, say it is ready, run the module on start,
// report its exit. It returns the process's exit code.
func Main() int {
	ctrl := os.NewFile(workerproto.FDControl, "control")
	rights := workerproto.NewRightsReader(ctrl)
	w := &workerSide{enc: json.NewEncoder(ctrl), dec: json.NewDecoder(rights), rights: rights}
	var h workerproto.Hello
	if err := w.dec.Decode(&h); err != nil {
		fmt.Fprintln(os.Stderr, "wasm-sandboxer-worker: read hello:", err)
		return 1
	}
	// WASI has no signals: any signal ends the module with 128+sig, as the
	// goroutine runtime reports. (As pid 1 of its namespace the worker only
	// gets signals it handles, SIGKILL and SIGSTOP aside.)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		s := (<-sigs).(syscall.Signal)
		code := 128 + uint32(s)
		w.send(workerproto.Message{Exit: &workerproto.Exit{Code: code, Reason: fmt.Sprintf("killed by signal %d", s)}})
		os.Exit(int(code))
	}()
	// Confinement, in this order, before any guest byte is seen.
	if err := buildRoot(&h); err != nil {
		w.send(workerproto.Message{Error: fmt.Sprintf("build root: %v", err)})
		return 1
	}
	if err := confine.LockDown(confine.Policy{AllowSockets: h.AllowSockets}); err != nil {
		w.send(workerproto.Message{Error: fmt.Sprintf("confine: %v", err)})
		return 1
	}
	if testHook != nil && h.TestHook {
		w.send(workerproto.Message{Error: "testhook: " + testHook()})
		return 1
	}
	// The engine (wazero with WASI, reading the shared compiled-code
	// cache) parses no guest byte: it is built while idle, off the start.
	eng := newEngine(h.CacheDir != "")
	w.send(workerproto.Message{Idle: true})

	var m workerproto.Message
	if err := w.dec.Decode(&m); err != nil || m.Job == nil {
		return 1 // the daemon let an idle worker go
	}
	// The job's listening sockets came with it: the worker may not make
	// sockets (docs/security.md), only serve these.
	listeners, err := w.rights.Take(m.Job.Listeners, "listener")
	if err != nil {
		w.send(workerproto.Message{Error: err.Error()})
		return 1
	}
	sa, compiled, ios, err := setup(m.Job, eng)
	if err != nil {
		w.send(workerproto.Message{Error: err.Error()})
		return 1
	}
	w.send(workerproto.Message{Ready: true, Compiled: compiled})
	start := make(chan struct{})
	go func() {
		for {
			var m workerproto.Message
			if err := w.dec.Decode(&m); err != nil {
				// The pod server is gone, and with it the only process
				// that could wait for this module: end it.
				os.Exit(137)
			}
			switch {
			case m.Start:
				close(start)
			case m.CloseStdin:
				ios.CloseStdin()
			case m.MemoryLimit != 0:
				sa.SetMemoryLimit(m.MemoryLimit)
			}
		}
	}()
	<-start
	if startHook != nil {
		if code, ok := startHook(m.Job.Config.Env); ok {
			return code
		}
	}
	e := sa.Run(engine.WithListeners(context.Background(), listeners))
	ios.Close()
	w.send(workerproto.Message{Exit: &workerproto.Exit{Code: e.Code, Reason: e.Reason, OOM: e.OOM}})
	if e.Code > 255 {
		return 255 // the daemon has the full code from the message
	}
	return int(e.Code)
}

// newEngine is the worker's engine on the shared compiled-code cache, or
// nil without one (or when it cannot be opened).
func newEngine(haveCache bool) wazero.Runtime {
	if !haveCache {
		return nil
	}
	c, err := wazero.NewCompilationCacheWithDir(workerproto.CacheDir)
	if err != nil {
		return nil
	}
	rt, err := engine.New(context.Background(), c)
	if err != nil {
		return nil
	}
	return rt
}

// setup opens the job's stdio, files and module, and compiles it on engine:
// the pod server compiled it into the shared cache, so this is a read of
// machine code. The cache is read-only here: on a miss wazero's write
// fails, and the module is compiled in memory instead (compiled reports
// it).
func setup(j *workerproto.Job, eng wazero.Runtime) (sa *engine.Standalone, compiled bool, ios *stdio.Set, err error) {
	ctx := context.Background()
	path := func(name string, present bool) string {
		if !present {
			return ""
		}
		return filepath.Join(workerproto.JobDir, name)
	}
	ios, err = stdio.OpenDirect(path("stdin", j.Stdin), path("stdout", j.Stdout), path("stderr", j.Stderr), 30*time.Second)
	if err != nil {
		return nil, false, nil, err
	}
	root, mounts, err := engine.OpenFS(filepath.Join(workerproto.JobDir, workerproto.RootfsDir), j.Config,
		func(i int, _ wasispec.Preopen) string { return workerproto.PreopenDir(workerproto.JobDir, i) })
	if err != nil {
		return nil, false, nil, err
	}
	bin, err := readModule(root, j.RootfsModule)
	if err != nil {
		return nil, false, nil, fmt.Errorf("read module: %w", err)
	}
	if eng != nil {
		if sa, err := engine.NewStandalone(ctx, eng, bin, j.Config, root, mounts, ios); err == nil {
			return sa, false, ios, nil
		}
	}
	inMemory, err := engine.New(ctx, wazero.NewCompilationCache())
	if err != nil {
		return nil, false, nil, fmt.Errorf("engine: %w", err)
	}
	sa, err = engine.NewStandalone(ctx, inMemory, bin, j.Config, root, mounts, ios)
	if err != nil {
		return nil, false, nil, fmt.Errorf("compile: %w", err)
	}
	return sa, true, ios, nil
}

// readModule reads the module from the rootfs (through the confined root,
// so symlinks resolve inside it) or, for one from an image layer, from the
// job dir; with the same size bound and checks as the pod server's read.
func readModule(root *confinedfs.FS, rootfsPath string) ([]byte, error) {
	if rootfsPath == "" {
		f, err := os.Open(filepath.Join(workerproto.JobDir, workerproto.ModuleFile))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return engine.ReadModuleFrom(workerproto.ModuleFile, f)
	}
	return engine.ReadModule(root, rootfsPath)
}
