package forked

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	runwazero "github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// Compiler compiles a module into the compiled-code cache workers read
// (the goroutine runtime does, into the shared on-disk cache), with the
// same checks and errors as the goroutine runtime.
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

	mu   sync.Mutex
	idle []*worker
	seq  uint64
	// spareParent is the parent of the last container cgroup made: where
	// new idle workers wait in spare cgroups (spare_linux.go).
	spareParent string
	closed      bool
	refills     sync.WaitGroup
	refillTimer *time.Timer // refillLater's
	refillCtx   context.Context
	drainTimer  *time.Timer   // armDrainLocked's
	refilling   int           // refill goroutines running
	changed     chan struct{} // changedLocked's
	// testHook is set by tests only: workers then run the confinement hook.
	testHook bool
}

var (
	_ task.Runtime = (*Runtime)(nil)
	_ task.Pauser  = (*process)(nil)
	_ task.Stater  = (*process)(nil)
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

// sweep removes what a previous daemon's workers left: their job dirs with
// the bind mounts of rootfs, mounts and fifos (which would pin the
// containers' overlay mounts), and their root mount points. Those workers
// are gone: a worker ends when its daemon connection drops.
func (r *Runtime) sweep() error {
	// The job dir's own (shared) mount stays.
	if err := unmountBelow(r.jobsDir, false); err != nil {
		return err
	}
	for _, d := range []string{r.jobsDir, r.rootsDir} {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				return fmt.Errorf("remove stale %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// RemoveState removes a runtime's state dir once its owner is gone: every
// mount below it (the job dirs' binds, the shared jobs mount), deepest
// first, then the files. Workers of that runtime are gone: a worker ends
// when its parent's connection drops.
func RemoveState(stateDir string) error {
	if err := unmountBelow(stateDir, true); err != nil {
		return err
	}
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("remove %s: %w", stateDir, err)
	}
	return nil
}

// unmountBelow detaches every mount below dir, deepest first, and dir's own
// when self is set.
func unmountBelow(dir string, self bool) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		if m.Mountpoint == dir && !self {
			continue
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
		}
	}
	return nil
}

// Close ends the idle workers, once the pool refills under way are done.
func (r *Runtime) Close() {
	r.mu.Lock()
	r.closed = true
	if r.refillTimer != nil {
		r.refillTimer.Stop()
	}
	if r.drainTimer != nil {
		r.drainTimer.Stop()
	}
	r.mu.Unlock()
	r.refills.Wait()
	r.mu.Lock()
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, w := range idle {
		w.discard()
	}
}

// Idle is the number of idle, confined workers waiting for a task.
func (r *Runtime) Idle() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.idle)
}

// worker is a started worker process and its control socket.
type worker struct {
	cmd     *exec.Cmd
	ctrl    *os.File
	dec     *json.Decoder
	jobDir  string
	rootDir string
	// spare is the spare cgroup the idle worker waits in, if any.
	spare string
}

// discard ends a worker that has no job, or whose job failed to start.
func (w *worker) discard() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
	w.cleanup()
}

// cleanup removes what a worker that has exited leaves.
func (w *worker) cleanup() {
	w.ctrl.Close()
	os.RemoveAll(w.jobDir)
	os.RemoveAll(w.rootDir)
	if w.spare != "" {
		removeCgroup(w.spare)
	}
}

// take returns an idle worker, or starts one; either way the pool is
// topped up in the background. With the pool empty while it is being
// refilled (a pod's first container, as the pod server warms its pool), it
// waits for the worker already starting rather than start one more: that
// one is ready sooner, and a third start on 2 cores slowed all of them.
func (r *Runtime) take(ctx context.Context) (*worker, error) {
	r.mu.Lock()
	for len(r.idle) == 0 && r.refilling > 0 && !r.closed {
		ch := r.changedLocked()
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
	}
	var w *worker
	if len(r.idle) > 0 {
		w, r.idle = r.idle[0], r.idle[1:]
	}
	r.armDrainLocked()
	r.mu.Unlock()
	r.refillLater(ctx)
	if w != nil {
		return w, nil
	}
	return r.start()
}

// refillDelay is how long the pool waits after the last worker was taken
// before it refills: a worker's start (a process, the Go runtime, the
// confinement, wazero) takes 20–30 ms of CPU, and started at once it
// competed with the task that took the worker, on 2 cores making that
// task's own start, exit and delete slower by more than the pool saved
// (docs/RATIONALE.md, "Why does the pool refill only when starts pause?").
const refillDelay = 30 * time.Millisecond

// refillLater tops the pool up once no worker has been taken for
// refillDelay.
func (r *Runtime) refillLater(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.PoolSize == 0 || r.closed {
		return
	}
	// The refill logs in the context of the take that last put it off.
	r.refillCtx = context.WithoutCancel(ctx)
	if r.refillTimer != nil {
		r.refillTimer.Reset(refillDelay)
		return
	}
	r.refillTimer = time.AfterFunc(refillDelay, func() {
		r.mu.Lock()
		ctx := r.refillCtx
		r.mu.Unlock()
		r.Warm(ctx)
	})
}

// Warm tops up the pool of idle workers in the background (a pod server
// warms its pod's pool before the first container starts).
func (r *Runtime) Warm(ctx context.Context) {
	r.mu.Lock()
	refill := r.cfg.PoolSize > 0 && !r.closed
	if refill {
		r.refills.Add(1)
		r.refilling++
	}
	r.mu.Unlock()
	if refill {
		go func() {
			defer r.refills.Done()
			r.refill(context.WithoutCancel(ctx))
			r.mu.Lock()
			r.refilling--
			r.notifyLocked()
			r.mu.Unlock()
		}()
	}
}

// armDrainLocked (re)starts the wait after which the pool's idle workers
// are ended (Config.PoolIdle).
func (r *Runtime) armDrainLocked() {
	if r.cfg.PoolIdle <= 0 || r.closed {
		return
	}
	if r.drainTimer != nil {
		r.drainTimer.Reset(r.cfg.PoolIdle)
		return
	}
	r.drainTimer = time.AfterFunc(r.cfg.PoolIdle, r.drain)
}

// drain ends the idle workers of a pool nobody has drawn from for
// Config.PoolIdle: their memory (a Go runtime and wazero's engine each,
// docs/performance.md figure 4) is given back.
func (r *Runtime) drain() {
	r.mu.Lock()
	if r.closed { // Close ends them
		r.mu.Unlock()
		return
	}
	idle := r.idle
	r.idle = nil
	r.refills.Add(1) // Close waits for these to be gone
	r.mu.Unlock()
	defer r.refills.Done()
	for _, w := range idle {
		w.discard()
	}
}

// changedLocked is closed when a worker joins the pool or a refill ends.
func (r *Runtime) changedLocked() <-chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

func (r *Runtime) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

func (r *Runtime) refill(ctx context.Context) {
	for {
		r.mu.Lock()
		n := len(r.idle)
		closed := r.closed
		r.mu.Unlock()
		if closed || n >= r.cfg.PoolSize {
			return
		}
		w, err := r.start()
		if err != nil {
			log.G(ctx).WithError(err).WithField("netns", r.cfg.NetNS).Warn("refill worker pool")
			return
		}
		r.giveSpare(ctx, w)
		r.mu.Lock()
		if r.closed || len(r.idle) >= r.cfg.PoolSize {
			r.mu.Unlock()
			w.discard()
			return
		}
		r.idle = append(r.idle, w)
		r.notifyLocked()
		r.armDrainLocked()
		r.mu.Unlock()
	}
}

// start starts a worker in the runtime's network namespace and waits until
// it has confined itself.
func (r *Runtime) start() (_ *worker, retErr error) {
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("%d-%d", os.Getpid(), r.seq)
	r.mu.Unlock()
	w := &worker{jobDir: filepath.Join(r.jobsDir, name), rootDir: filepath.Join(r.rootsDir, name)}
	for _, d := range []string{w.jobDir, w.rootDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(w.jobDir)
			os.RemoveAll(w.rootDir)
		}
	}()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	cmd, err := startWorker(r.cfg.WorkerBinary, theirs, r.cfg.NetNS)
	// The worker has its own copy now. Ours closed, a worker that dies
	// before it answers is an EOF below, not a wait forever.
	theirs.Close()
	if err != nil {
		ours.Close()
		return nil, err
	}
	w.cmd, w.ctrl, w.dec = cmd, ours, json.NewDecoder(bufio.NewReader(ours))
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
			cmd.Wait()
			ours.Close()
		}
	}()
	if err := json.NewEncoder(ours).Encode(hello{NewRoot: w.rootDir, JobDir: w.jobDir, CacheDir: r.cfg.CacheDir, TestHook: r.testHook}); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	var m message
	if err := w.dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("worker died while confining itself: %w", errdefs.ErrInternal)
	}
	if !m.Idle {
		return nil, fmt.Errorf("worker could not confine itself: %s: %w", m.Error, errdefs.ErrInternal)
	}
	return w, nil
}

// Prepare resolves and compiles the module in the daemon (same errors as
// the goroutine runtime, and a warm cache for the worker), hands the job to
// an idle confined worker and waits until it has compiled the module. An
// exec's worker (spec.Parent set) joins its container's cgroup.
func (r *Runtime) Prepare(ctx context.Context, spec task.ProcessSpec) (_ task.Process, retErr error) {
	var parent *process
	if spec.Parent != nil {
		pp, ok := spec.Parent.(*process)
		if !ok {
			return nil, fmt.Errorf("exec %s: its container's process is not a forked one (%T): %w", spec.ID, spec.Parent, errdefs.ErrInvalidArgument)
		}
		parent = pp
	}
	root, err := confinedfs.New(spec.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("rootfs %q: %w", spec.Rootfs, err)
	}
	mod, err := runwazero.ResolveModule(ctx, root, spec)
	root.Close()
	if err != nil {
		return nil, err
	}
	if err := r.cfg.Compiler.Compile(ctx, mod.Digest, mod.Name, mod.Bin, spec.Config.MemoryLimitPages()); err != nil {
		return nil, err
	}
	w, err := r.take(ctx)
	if err != nil {
		return nil, fmt.Errorf("worker for %s: %w", spec.ID, err)
	}
	p := &process{id: spec.ID, w: w, done: make(chan struct{}), parent: parent, res: spec.Resources}
	defer func() {
		if retErr != nil {
			p.release()
		}
	}()
	j, err := p.stage(spec, mod)
	if err != nil {
		return nil, fmt.Errorf("stage job %s: %w", spec.ID, err)
	}
	if err := p.send(message{Job: j}); err != nil {
		return nil, fmt.Errorf("send job %s: %w", spec.ID, err)
	}
	var m message
	if err := w.dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("worker for %s died during setup: %w", spec.ID, errdefs.ErrInternal)
	}
	if m.Error != "" {
		return nil, fmt.Errorf("worker for %s: %s: %w", spec.ID, m.Error, errdefs.ErrInvalidArgument)
	}
	if m.Compiled {
		// Slow start: the worker found no machine code in the shared cache
		// (evicted, or daemon and worker built differently).
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
func (r *Runtime) place(ctx context.Context, w *worker, spec task.ProcessSpec) (cgroup, error) {
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

// process is the daemon's handle on the worker running one module.
type process struct {
	id     string
	w      *worker
	cg     cgroup   // its container's; owned (deleted on release) unless parent is set
	mounts []string // in the job dir, deepest last
	// parent is, for an exec, the container's init process.
	parent *process
	// killed is set once the daemon signalled the worker: a SIGKILL it
	// did not send, with the cgroup's OOM count up, is the OOM killer's.
	killed atomic.Bool

	// Of a container's init process only: its execs, its resources as
	// created then updated, and the OOM ends of its modules.
	famMu    sync.Mutex
	children map[*process]struct{}
	res      *specs.LinuxResources
	oomKills atomic.Uint64

	sendMu sync.Mutex
	mu     sync.Mutex
	last   *exit // the worker's own report of the module's end
	done   chan struct{}
	exit   task.Exit

	closeOnce sync.Once
}

// stage puts the job's files in the worker's job dir: the module, and bind
// mounts of the rootfs, the preopens and the stdio fifos, which propagate
// into the worker's /job.
func (p *process) stage(spec task.ProcessSpec, mod runwazero.Module) (*job, error) {
	dir := p.w.jobDir
	// A module from the rootfs is read there by the worker; only one from
	// an image layer is copied in.
	if mod.RootfsPath == "" {
		if err := os.WriteFile(filepath.Join(dir, moduleFile), mod.Bin, 0o400); err != nil {
			return nil, err
		}
	}
	if err := p.bindDir(spec.Rootfs, filepath.Join(dir, rootfsDir), spec.Config.RootReadOnly); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	for i, o := range spec.Config.Preopens {
		if err := p.bindDir(o.HostPath, preopenDir(dir, i), o.ReadOnly); err != nil {
			return nil, fmt.Errorf("mount %s: %w", o.GuestPath, err)
		}
	}
	j := &job{ID: spec.ID, Config: spec.Config, RootfsModule: mod.RootfsPath}
	for _, f := range []struct {
		path string
		name string
		set  *bool
	}{{spec.Stdin, "stdin", &j.Stdin}, {spec.Stdout, "stdout", &j.Stdout}, {spec.Stderr, "stderr", &j.Stderr}} {
		if f.path == "" {
			continue
		}
		dst := filepath.Join(dir, f.name)
		if err := os.WriteFile(dst, nil, 0o600); err != nil {
			return nil, err
		}
		if err := p.mount(f.path, dst, unix.MS_BIND); err != nil {
			// containerd hands over fifos it made: a path that is not
			// there (or is a directory) is a bad request.
			return nil, fmt.Errorf("%s fifo %s: %v: %w", f.name, f.path, err, errdefs.ErrInvalidArgument)
		}
		*f.set = true
	}
	return j, nil
}

func (p *process) bindDir(src, dst string, ro bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := p.mount(src, dst, unix.MS_BIND|unix.MS_REC); err != nil {
		return err
	}
	if ro {
		return p.mount("", dst, unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY)
	}
	return nil
}

func (p *process) mount(src, dst string, flags uintptr) error {
	if err := unix.Mount(src, dst, "", flags, ""); err != nil {
		return err
	}
	if flags&unix.MS_REMOUNT == 0 {
		p.mounts = append(p.mounts, dst)
	}
	return nil
}

func (p *process) send(m message) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return json.NewEncoder(p.w.ctrl).Encode(m)
}

// watch reads the worker's messages until it exits, then records the exit.
func (p *process) watch() {
	go func() {
		for {
			var m message
			if err := p.w.dec.Decode(&m); err != nil {
				return
			}
			if m.Exit != nil {
				p.mu.Lock()
				p.last = m.Exit
				p.mu.Unlock()
			}
		}
	}()
	err := p.w.cmd.Wait()
	e := task.Exit{At: time.Now()}
	var ws syscall.WaitStatus
	if st := p.w.cmd.ProcessState; st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	}
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	switch {
	case ws.Signaled():
		e.Code, e.Reason = 128+uint32(ws.Signal()), fmt.Sprintf("worker killed by signal %d", ws.Signal())
		if ws.Signal() == syscall.SIGKILL && !p.killed.Load() && oomKills(p.cg) > 0 {
			e.OOM, e.Reason = true, "worker killed by the kernel's OOM killer: the container's cgroup memory limit was reached"
		}
	case last != nil:
		e.Code, e.Reason, e.OOM = last.Code, last.Reason, last.OOM
	case err != nil && p.w.cmd.ProcessState == nil:
		e.Code, e.Reason = task.ExitTrap, fmt.Sprintf("worker: %v", err)
	default:
		e.Code = uint32(ws.ExitStatus())
	}
	p.mu.Lock()
	p.exit = e
	p.mu.Unlock()
	if e.OOM {
		p.container().oomKills.Add(1)
	}
	close(p.done)
}

func (p *process) Start(ctx context.Context) error {
	select {
	case <-p.done:
		return fmt.Errorf("worker for %s already exited: %w", p.id, errdefs.ErrFailedPrecondition)
	default:
	}
	if err := p.send(message{Start: true}); err != nil {
		if p.killed.Load() {
			// A kill before start ended the worker under us.
			return fmt.Errorf("task %s was killed before it started: %w", p.id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("start worker for %s: %w", p.id, err)
	}
	return nil
}

func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	if sig != syscall.SIGSTOP && sig != syscall.SIGCONT {
		p.killed.Store(true)
	}
	if err := p.w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal worker %d: %w", p.w.cmd.Process.Pid, err)
	}
	return nil
}

// Pause stops every thread of the worker (SIGSTOP reaches a pid-namespace
// init from its parent namespace).
func (p *process) Pause(ctx context.Context) error {
	return p.Kill(ctx, syscall.SIGSTOP)
}

// Resume continues a paused worker.
func (p *process) Resume(ctx context.Context) error {
	return p.Kill(ctx, syscall.SIGCONT)
}

func (p *process) Done() <-chan struct{} { return p.done }

func (p *process) Exit() task.Exit {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// Pid is the worker's, as the host sees it.
func (p *process) Pid() int { return p.w.cmd.Process.Pid }

func (p *process) CloseStdin() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	return p.send(message{CloseStdin: true})
}

func (p *process) Close() error {
	p.closeOnce.Do(func() {
		select {
		case <-p.done:
		default:
			p.killed.Store(true)
			p.w.cmd.Process.Kill()
			<-p.done
		}
		p.release()
	})
	return nil
}

// release undoes what stage and Prepare set up around the worker.
func (p *process) release() {
	for i := len(p.mounts) - 1; i >= 0; i-- {
		unix.Unmount(p.mounts[i], unix.MNT_DETACH)
	}
	if p.parent != nil {
		p.parent.disown(p)
	} else if p.cg != nil {
		p.cg.Delete()
	}
	select {
	case <-p.done: // watched and exited
		p.w.cleanup()
	default: // Prepare failed before the worker was watched
		p.w.discard()
	}
}
