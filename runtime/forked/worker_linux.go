package forked

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
)

// worker is the worker side of one job.
type worker struct {
	mu  sync.Mutex // serialises writes to the control socket
	enc *json.Encoder
}

func (w *worker) send(m message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(m) //nolint:errcheck // the daemon may be gone: nothing to do
}

// WorkerMain is the whole life of a worker process: read the job, build
// the root, lock down, compile, report ready, wait for start, run the
// module, report its exit. It returns the process's exit code.
func WorkerMain() int {
	ctrl := os.NewFile(fdControl, "control")
	w := &worker{enc: json.NewEncoder(ctrl)}
	dec := json.NewDecoder(ctrl)
	var j job
	if err := dec.Decode(&j); err != nil {
		fmt.Fprintln(os.Stderr, "wasm-sandboxer-worker: read job:", err)
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
	sa, ios, err := setup(&j)
	if err != nil {
		w.send(message{Error: err.Error()})
		return 1
	}
	w.send(message{Ready: true})

	start := make(chan struct{})
	go func() {
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				if err == io.EOF {
					return
				}
				return
			}
			switch {
			case m.Start:
				close(start)
			case m.CloseStdin:
				ios.CloseStdin()
			}
		}
	}()
	<-start
	e := sa.Run(context.Background())
	ios.Close()
	w.send(message{Exit: &exit{Code: e.Code, Reason: e.Reason}})
	if e.Code > 255 {
		return 255 // the daemon has the full code from the message
	}
	return int(e.Code)
}

// setup does, in this order and before any guest byte is parsed: open the
// stdio fifos and read the module (host side), build and pivot into the new
// root, lock the process down, then compile the module.
func setup(j *job) (*runwazero.Standalone, *stdio.Set, error) {
	ctx := context.Background()
	bin, err := io.ReadAll(os.NewFile(fdModule, "module"))
	if err != nil {
		return nil, nil, fmt.Errorf("read module: %w", err)
	}
	ios, err := stdio.Open(ctx, j.Stdin, j.Stdout, j.Stderr)
	if err != nil {
		return nil, nil, err
	}
	if err := buildRoot(j); err != nil {
		return nil, nil, fmt.Errorf("build root: %w", err)
	}
	if err := lockDown(j); err != nil {
		return nil, nil, fmt.Errorf("confine: %w", err)
	}
	var rootOpts []confinedfs.Option
	if j.Config.RootReadOnly {
		rootOpts = append(rootOpts, confinedfs.ReadOnly())
	}
	root, err := confinedfs.New(rootfsDir, rootOpts...)
	if err != nil {
		return nil, nil, err
	}
	var mounts []*confinedfs.FS
	for i, p := range j.Config.Preopens {
		var opts []confinedfs.Option
		if p.ReadOnly {
			opts = append(opts, confinedfs.ReadOnly())
		}
		m, err := confinedfs.New(filepath.Join(mountsDir, strconv.Itoa(i)), opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("mount %s: %w", p.GuestPath, err)
		}
		mounts = append(mounts, m)
	}
	// The daemon compiled the module into the shared cache, so this is a
	// read of machine code. The cache is read-only here: on a miss
	// wazero's write fails, and the module is compiled in memory instead.
	if j.CacheDir != "" {
		if c, err := wazero.NewCompilationCacheWithDir(cacheDir); err == nil {
			if sa, err := runwazero.NewStandalone(ctx, c, bin, j.Config, root, mounts, ios); err == nil {
				return sa, ios, nil
			}
		}
	}
	sa, err := runwazero.NewStandalone(ctx, wazero.NewCompilationCache(), bin, j.Config, root, mounts, ios)
	if err != nil {
		return nil, nil, fmt.Errorf("compile: %w", err)
	}
	return sa, ios, nil
}

// lockDown: rlimits, no_new_privs, no capabilities, the seccomp allow-list.
func lockDown(j *job) error {
	if err := confine.SetRlimits(confine.DefaultRlimits()); err != nil {
		return err
	}
	if err := confine.NoNewPrivs(); err != nil {
		return err
	}
	if err := confine.DropCapabilities(); err != nil {
		return err
	}
	return confine.InstallSeccomp(confine.Policy{AllowSockets: j.AllowSockets})
}
