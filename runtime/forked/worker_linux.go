package forked

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
)

// workerSide is the worker side of the control socket.
type workerSide struct {
	mu  sync.Mutex // serialises writes
	enc *json.Encoder
	dec *json.Decoder
}

func (w *workerSide) send(m message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(m) //nolint:errcheck // the daemon may be gone: nothing to do
}

// WorkerMain is the whole life of a worker process: confine itself, say it
// is idle, take one job, compile, say it is ready, run the module on start,
// report its exit. It returns the process's exit code.
func WorkerMain() int {
	ctrl := os.NewFile(fdControl, "control")
	w := &workerSide{enc: json.NewEncoder(ctrl), dec: json.NewDecoder(ctrl)}
	var h hello
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
		w.send(message{Exit: &exit{Code: code, Reason: fmt.Sprintf("killed by signal %d", s)}})
		os.Exit(int(code))
	}()
	// Confinement, in this order, before any guest byte is seen.
	if err := buildRoot(&h); err != nil {
		w.send(message{Error: fmt.Sprintf("build root: %v", err)})
		return 1
	}
	if err := confine.LockDown(confine.Policy{AllowSockets: h.AllowSockets}); err != nil {
		w.send(message{Error: fmt.Sprintf("confine: %v", err)})
		return 1
	}
	if testHook != nil && h.TestHook {
		w.send(message{Error: "testhook: " + testHook()})
		return 1
	}
	// The engine (wazero with WASI, reading the shared compiled-code
	// cache) parses no guest byte: it is built while idle, off the start.
	engine := newEngine(h.CacheDir != "")
	w.send(message{Idle: true})

	var m message
	if err := w.dec.Decode(&m); err != nil || m.Job == nil {
		return 1 // the daemon let an idle worker go
	}
	sa, compiled, ios, err := setup(m.Job, engine)
	if err != nil {
		w.send(message{Error: err.Error()})
		return 1
	}
	w.send(message{Ready: true, Compiled: compiled})
	start := make(chan struct{})
	go func() {
		for {
			var m message
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
	e := sa.Run(context.Background())
	ios.Close()
	w.send(message{Exit: &exit{Code: e.Code, Reason: e.Reason, OOM: e.OOM}})
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
	c, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil
	}
	rt, err := runwazero.NewEngine(context.Background(), c)
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
func setup(j *job, engine wazero.Runtime) (sa *runwazero.Standalone, compiled bool, ios *stdio.Set, err error) {
	ctx := context.Background()
	path := func(name string, present bool) string {
		if !present {
			return ""
		}
		return filepath.Join(jobDir, name)
	}
	ios, err = stdio.OpenDirect(path("stdin", j.Stdin), path("stdout", j.Stdout), path("stderr", j.Stderr), 30*time.Second)
	if err != nil {
		return nil, false, nil, err
	}
	root, mounts, err := runwazero.OpenFS(filepath.Join(jobDir, rootfsDir), j.Config,
		func(i int, _ wasispec.Preopen) string { return preopenDir(jobDir, i) })
	if err != nil {
		return nil, false, nil, err
	}
	bin, err := readModule(root, j.RootfsModule)
	if err != nil {
		return nil, false, nil, fmt.Errorf("read module: %w", err)
	}
	if engine != nil {
		if sa, err := runwazero.NewStandalone(ctx, engine, bin, j.Config, root, mounts, ios); err == nil {
			return sa, false, ios, nil
		}
	}
	inMemory, err := runwazero.NewEngine(ctx, wazero.NewCompilationCache())
	if err != nil {
		return nil, false, nil, fmt.Errorf("engine: %w", err)
	}
	sa, err = runwazero.NewStandalone(ctx, inMemory, bin, j.Config, root, mounts, ios)
	if err != nil {
		return nil, false, nil, fmt.Errorf("compile: %w", err)
	}
	return sa, true, ios, nil
}

// readModule reads the module from the rootfs (through the confined root,
// so symlinks resolve inside it) or, for one from an image layer, from the
// job dir.
func readModule(root *confinedfs.FS, rootfsPath string) ([]byte, error) {
	if rootfsPath == "" {
		return os.ReadFile(filepath.Join(jobDir, moduleFile))
	}
	f, err := root.Open(rootfsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, runwazero.MaxModuleBytes))
}
