package forked

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"golang.org/x/sys/unix"
)

// process is the daemon's handle on the worker running one module.
type process struct {
	id     string
	w      *worker
	cg     cgroup   // its container's; owned (deleted on release) unless parent is set
	mounts []string // in the job dir, deepest last
	rt     *Runtime
	// parent is, for an exec, the container's init process.
	parent *process
	// killSig is the first signal a Kill asked for (0: none). Every
	// signal but SIGSTOP and SIGCONT ends the module (WASI has no
	// signals), so the worker gets SIGKILL and the exit is 128+killSig:
	// nothing in the worker has to run, so a guest spinning in machine
	// code without in-guest checks ends at once. A SIGKILL that no Kill
	// sent, with the cgroup's OOM count up, is the OOM killer's.
	killSig atomic.Int32

	// Of a container's init process only: its execs, its resources as
	// created then updated, and the OOM ends of its modules.
	famMu    sync.Mutex
	children map[*process]struct{}
	res      *specs.LinuxResources
	oomKills atomic.Uint64

	sendMu sync.Mutex
	mu     sync.Mutex
	last   *workerproto.Exit // the worker's own report of the module's end
	done   chan struct{}
	exit   runtime.Exit

	closeOnce sync.Once
}

// stage puts the job's files in the worker's job dir: the module, and bind
// mounts of the rootfs, the preopens and the stdio fifos, which propagate
// into the worker's /job.
func (p *process) stage(spec runtime.ProcessSpec, mod engine.Module, bin []byte) (*workerproto.Job, error) {
	dir := p.w.jobDir
	// A module from the rootfs is read there by the worker; only one from
	// an image layer is copied in.
	if mod.RootfsPath == "" {
		if err := os.WriteFile(filepath.Join(dir, workerproto.ModuleFile), bin, 0o400); err != nil {
			return nil, err
		}
	}
	if err := p.bindDir(spec.Rootfs, filepath.Join(dir, workerproto.RootfsDir), spec.Config.RootReadOnly); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	for i, o := range spec.Config.Preopens {
		if err := p.bindDir(o.HostPath, workerproto.PreopenDir(dir, i), o.ReadOnly); err != nil {
			return nil, fmt.Errorf("mount %s: %w", o.GuestPath, err)
		}
	}
	j := &workerproto.Job{ID: spec.ID, Config: spec.Config, RootfsModule: mod.RootfsPath}
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

// sendJob sends the job with its listening sockets attached.
func (p *process) sendJob(j *workerproto.Job, listeners []*os.File) error {
	if len(listeners) == 0 {
		return p.send(workerproto.Message{Job: j})
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	j.Listeners = len(listeners)
	return workerproto.SendWithFiles(p.w.ctrl, workerproto.Message{Job: j}, listeners)
}

func (p *process) send(m workerproto.Message) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return json.NewEncoder(p.w.ctrl).Encode(m)
}

// watch reads the worker's messages until it exits, then records the exit.
func (p *process) watch() {
	go func() {
		for {
			var m workerproto.Message
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
	e := runtime.Exit{At: time.Now()}
	var ws syscall.WaitStatus
	if st := p.w.cmd.ProcessState; st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	}
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL && p.killSig.Load() != 0:
		sig := p.killSig.Load()
		e.Code, e.Reason = 128+uint32(sig), fmt.Sprintf("killed by signal %d", sig)
	case ws.Signaled():
		e.Code, e.Reason = 128+uint32(ws.Signal()), fmt.Sprintf("worker killed by signal %d", ws.Signal())
		if ws.Signal() == syscall.SIGKILL && oomKills(p.cg) > 0 {
			e.OOM, e.Reason = true, "worker killed by the kernel's OOM killer: the container's cgroup memory limit was reached"
		}
	case last != nil:
		e.Code, e.Reason, e.OOM = last.Code, last.Reason, last.OOM
	case err != nil && p.w.cmd.ProcessState == nil:
		e.Code, e.Reason = runtime.ExitTrap, fmt.Sprintf("worker: %v", err)
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
	if err := p.send(workerproto.Message{Start: true}); err != nil {
		if p.killSig.Load() != 0 {
			// A kill before start ended the worker under us.
			return fmt.Errorf("task %s was killed before it started: %w", p.id, errdefs.ErrFailedPrecondition)
		}
		return fmt.Errorf("start worker for %s: %w", p.id, err)
	}
	return nil
}

func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	if sig != syscall.SIGSTOP && sig != syscall.SIGCONT {
		p.killSig.CompareAndSwap(0, int32(sig))
		sig = syscall.SIGKILL
	}
	if err := p.w.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal worker %d: %w", p.w.cmd.Process.Pid, err)
	}
	return nil
}

// Exec runs another module in the container: its worker joins the
// container's cgroup.
func (p *process) Exec(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	return asProcess(p.rt.prepare(ctx, spec, p))
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

func (p *process) Exit() runtime.Exit {
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
	err := p.send(workerproto.Message{CloseStdin: true})
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		// The worker closed its end: its module ended (a `cat` that read
		// EOF) and it is exiting, which p.done has not seen yet. An ended
		// process has no stdin to close; found by make test-unit beside
		// a CPU hog (exec's "stdin, CloseIO" case).
		select {
		case <-p.done:
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	return err
}

func (p *process) Close() error {
	p.closeOnce.Do(func() {
		select {
		case <-p.done:
		default:
			p.killSig.CompareAndSwap(0, int32(syscall.SIGKILL))
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
