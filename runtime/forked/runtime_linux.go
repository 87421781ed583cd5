package forked

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Compiler compiles a module into the compiled-code cache workers read
// (engine.Compiler, with the workers' engine configuration, into the
// shared on-disk cache), with the same checks and errors as the goroutine
// runtime.
type Compiler interface {
	Compile(ctx context.Context, digest, name string, bin []byte, limitPages uint32) error
}

// Config configures a Runtime.
type Config struct {
	// WorkerBinary is the wasm-sandboxer-worker executable.
	WorkerBinary string
	// StateDir holds the workers' job dirs and root mount points.
	StateDir string
	// CacheDir is the compiled-code directory bound read-only into workers.
	CacheDir string
	// Compiler fills CacheDir before a worker gets its job.
	Compiler Compiler
	// CgroupParent is the cgroup of workers whose spec names none.
	CgroupParent string
	// NetNS is the network namespace every worker joins: the pod's (a
	// runtime serves one pod, in its pod server); "" gives each worker a
	// new, empty one.
	NetNS string
	// PoolSize is how many idle, confined workers are kept ready. 0 starts
	// a worker per task.
	PoolSize int
	// PoolIdle ends the pool's idle workers once it has not been drawn
	// from or refilled for that long (0: never). The next task starts a
	// worker, and the pool fills again behind it.
	PoolIdle time.Duration
	// SpareParent is the cgroup (cgroupfs path) its containers' cgroups
	// will be made in, when known before the first one (the pod's, under
	// CRI): idle workers wait in spare cgroups there (spare_linux.go). A
	// systemd-style or empty one is ignored; the first container's cgroup
	// tells instead.
	SpareParent string
}

// Runtime runs every module in its own confined worker process.
type Runtime struct {
	cfg      Config
	jobsDir  string // shared mount: job dirs of every worker
	rootsDir string // mount points of the workers' roots
	pool     *pool

	mu  sync.Mutex
	seq uint64
	// spareParent is the parent of the last container cgroup made: where
	// new idle workers wait in spare cgroups (spare_linux.go).
	spareParent string
	// testHook is set by tests only: workers then run the confinement hook.
	testHook bool
	// workerCompiles counts workers that found no machine code in the
	// shared cache and compiled their module themselves.
	workerCompiles atomic.Uint64
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Execer  = (*process)(nil)
	_ runtime.Pauser  = (*process)(nil)
	_ runtime.Stater  = (*process)(nil)
)

// New checks cfg, makes the job directory a shared mount (so the mounts
// made in it propagate into workers' roots) and returns a Runtime.
func New(cfg Config) (*Runtime, error) {
	fi, err := os.Stat(cfg.WorkerBinary)
	if err != nil || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("worker binary %q is not an executable file: %w", cfg.WorkerBinary, errdefs.ErrInvalidArgument)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "wasm-sandboxer"
	}
	r := &Runtime{
		cfg:         cfg,
		jobsDir:     filepath.Join(cfg.StateDir, "forked", "jobs"),
		rootsDir:    filepath.Join(cfg.StateDir, "forked", "roots"),
		spareParent: spareParentOf(cfg.SpareParent),
	}
	r.pool = &pool{size: cfg.PoolSize, idleFor: cfg.PoolIdle, start: r.start, ready: r.giveSpare}
	for _, d := range []string{r.jobsDir, r.rootsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	mounted, err := mountinfo.Mounted(r.jobsDir)
	if err != nil {
		return nil, err
	}
	if !mounted {
		if err := unix.Mount(r.jobsDir, r.jobsDir, "", unix.MS_BIND, ""); err != nil {
			return nil, fmt.Errorf("bind %s: %w", r.jobsDir, err)
		}
	}
	if err := unix.Mount("", r.jobsDir, "", unix.MS_SHARED, ""); err != nil {
		return nil, fmt.Errorf("make %s shared: %w", r.jobsDir, err)
	}
	if err := r.sweep(); err != nil {
		return nil, err
	}
	return r, nil
}

// Close ends the idle workers, once the pool refills under way are done.
func (r *Runtime) Close() { r.pool.close() }

// Idle is the number of idle, confined workers waiting for a task.
func (r *Runtime) Idle() int { return r.pool.len() }

// WorkerCompiles is how many workers compiled their module themselves,
// missing the machine code the runtime's Compiler put in the shared cache.
func (r *Runtime) WorkerCompiles() uint64 { return r.workerCompiles.Load() }

// Warm tops up the pool of idle workers in the background (a pod server
// warms its pod's pool before the first container starts).
func (r *Runtime) Warm(ctx context.Context) { r.pool.warm(ctx) }

// Prepare resolves and compiles the module in the daemon (same errors as
// the goroutine runtime, and a warm cache for the worker), hands the job to
// an idle confined worker and waits until it has compiled the module.
func (r *Runtime) Prepare(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	return asProcess(r.prepare(ctx, spec, nil))
}

// asProcess returns p as a runtime.Process, and no typed nil on an error.
func asProcess(p *process, err error) (runtime.Process, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// prepare is Prepare for a container's own module (parent nil) or an exec
// of parent's container, whose worker joins the container's cgroup.
func (r *Runtime) prepare(ctx context.Context, spec runtime.ProcessSpec, parent *process) (_ *process, retErr error) {
	root, err := confinedfs.New(spec.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("rootfs %q: %w", spec.Rootfs, err)
	}
	cid := spec.ContainerID
	if cid == "" {
		cid = spec.ID
	}
	mod, err := engine.Find(ctx, root, spec.Config, cid, spec.Image)
	root.Close()
	if err != nil {
		return nil, err
	}
	bin, err := mod.Load()
	if err != nil {
		return nil, err
	}
	if err := r.cfg.Compiler.Compile(ctx, mod.Digest, mod.Name, bin, spec.Config.MemoryLimitPages()); err != nil {
		return nil, err
	}
	w, err := r.pool.take(ctx)
	if err != nil {
		return nil, fmt.Errorf("worker for %s: %w", spec.ID, err)
	}
	p := &process{rt: r, id: spec.ID, w: w, done: make(chan struct{}), parent: parent, res: spec.Resources}
	defer func() {
		if retErr != nil {
			p.release()
		}
	}()
	j, err := p.stage(spec, mod, bin)
	if err != nil {
		return nil, fmt.Errorf("stage job %s: %w", spec.ID, err)
	}
	err = p.sendJob(j, spec.Listeners)
	// The worker has its own copies of the listeners now: the port is
	// free again as soon as the worker ends.
	for _, f := range spec.Listeners {
		f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("send job %s: %w", spec.ID, err)
	}
	var m workerproto.Message
	if err := w.dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("worker for %s died during setup: %w", spec.ID, errdefs.ErrInternal)
	}
	if m.Error != "" {
		return nil, fmt.Errorf("worker for %s: %s: %w", spec.ID, m.Error, errdefs.ErrInvalidArgument)
	}
	if m.Compiled {
		// Slow start: the worker found no machine code in the shared cache
		// (evicted, or daemon and worker built differently).
		r.workerCompiles.Add(1)
		log.G(ctx).WithFields(log.Fields{"id": spec.ID, "module": mod.Name}).Warn("worker compiled the module itself: compiled-code cache miss")
	}
	// Placed once the worker has compiled, not before: the memory limit is
	// the module's, and the runtime's setup (Go, wazero, the deserialised
	// machine code) stays charged where it was (docs/RATIONALE.md).
	if parent != nil {
		if err := parent.adopt(p); err != nil {
			return nil, err
		}
	} else {
		cg, err := r.place(ctx, w, spec)
		if cg != nil {
			p.cg = cg // released with p, also when err is set
		}
		if err != nil {
			return nil, err
		}
	}
	go p.watch()
	log.G(ctx).WithFields(log.Fields{"id": spec.ID, "pid": w.cmd.Process.Pid, "module": mod.Name}).Debug("worker ready")
	return p, nil
}

// place puts worker w in the cgroup of spec's container: its spare
// renamed when it waits in one next to it, else a new cgroup it is moved
// into (spare_linux.go). It remembers where container cgroups are made, for
// the spares of the workers to come.
func (r *Runtime) place(ctx context.Context, w *worker, spec runtime.ProcessSpec) (cgroup, error) {
	target, err := cgroupPath(spec.CgroupsPath, r.cfg.CgroupParent, spec.ID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.spareParent = path.Dir(target)
	r.mu.Unlock()
	if w.spare != "" {
		cg, err := claimSpare(w.spare, target, spec.Resources)
		if err == nil || cg != nil {
			w.spare = "" // renamed: the container's now
			return cg, err
		}
		if !errors.Is(err, errNotHere) {
			log.G(ctx).WithError(err).WithField("id", spec.ID).Warn("spare cgroup not claimed: moving the worker")
		}
	}
	cg, err := placeInCgroup(w.cmd.Process.Pid, target, spec.Resources)
	if w.spare != "" && err == nil {
		removeCgroup(w.spare) // the worker left it
		w.spare = ""
	}
	return cg, err
}

// giveSpare moves idle worker w into a spare cgroup of its own next to the
// last container cgroup, if there was one; a failure only costs the task
// that takes w the move.
func (r *Runtime) giveSpare(ctx context.Context, w *worker) {
	r.mu.Lock()
	parent := r.spareParent
	r.mu.Unlock()
	if parent == "" {
		return
	}
	p, err := makeSpare(parent, filepath.Base(w.jobDir), w.cmd.Process.Pid)
	if err != nil {
		log.G(ctx).WithError(err).Debug("no spare cgroup for an idle worker")
		return
	}
	w.spare = p
}
