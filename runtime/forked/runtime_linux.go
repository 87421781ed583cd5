package forked

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
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
	// StateDir holds each worker's (empty) root mount point.
	StateDir string
	// CacheDir is the compiled-code directory bound read-only into workers.
	CacheDir string
	// Compiler fills CacheDir before a worker starts.
	Compiler Compiler
	// CgroupParent is the cgroup of workers whose spec names none.
	CgroupParent string
}

// Runtime runs every module in its own confined worker process.
type Runtime struct {
	cfg Config
}

var _ task.Runtime = (*Runtime)(nil)

// New checks cfg and returns a Runtime.
func New(cfg Config) (*Runtime, error) {
	fi, err := os.Stat(cfg.WorkerBinary)
	if err != nil || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("worker binary %q is not an executable file: %w", cfg.WorkerBinary, errdefs.ErrInvalidArgument)
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "wasm-sandboxer"
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "forked"), 0o700); err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg}, nil
}

// Prepare resolves and compiles the module in the daemon (same errors as
// the goroutine runtime, and a warm cache for the worker), then starts a
// worker that confines itself and waits for Start.
func (r *Runtime) Prepare(ctx context.Context, spec task.ProcessSpec) (_ task.Process, retErr error) {
	root, err := confinedfs.New(spec.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("rootfs %q: %w", spec.Rootfs, err)
	}
	digest, name, bin, err := runwazero.ResolveModule(ctx, root, spec)
	root.Close()
	if err != nil {
		return nil, err
	}
	if err := r.cfg.Compiler.Compile(ctx, digest, name, bin, spec.Config.MemoryLimitPages()); err != nil {
		return nil, err
	}
	module, err := sealedMemfd(bin)
	if err != nil {
		return nil, err
	}
	defer module.Close()

	sum := sha256.Sum256([]byte(spec.ID))
	workDir := filepath.Join(r.cfg.StateDir, "forked", hex.EncodeToString(sum[:8]))
	newRoot := filepath.Join(workDir, "root")
	if err := os.MkdirAll(newRoot, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(workDir)
		}
	}()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	defer theirs.Close()

	cmd := exec.Command(r.cfg.WorkerBinary)
	cmd.ExtraFiles = []*os.File{theirs, module} // fds 3 and 4
	flags := uintptr(unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if spec.NetNS == "" {
		flags |= unix.CLONE_NEWNET // no pod network: an empty one
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: flags,
		// Root inside maps to root outside (and nothing else), so the
		// rootfs's root-owned files stay usable; the worker drops every
		// capability before it reads a guest byte (docs/RATIONALE.md).
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		Setsid:      true,
	}
	if err := startIn(cmd, spec.NetNS); err != nil {
		ours.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	p := &process{r: r, id: spec.ID, cmd: cmd, ctrl: ours, workDir: workDir, done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
			cmd.Wait()
			ours.Close()
		}
	}()
	j := job{ID: spec.ID, Config: spec.Config, Rootfs: spec.Rootfs, NewRoot: newRoot, CacheDir: r.cfg.CacheDir,
		Stdin: spec.Stdin, Stdout: spec.Stdout, Stderr: spec.Stderr}
	if err := json.NewEncoder(ours).Encode(j); err != nil {
		return nil, fmt.Errorf("send job: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(ours))
	var m message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("worker for %s died during setup: %w", spec.ID, errdefs.ErrInternal)
	}
	if m.Error != "" {
		return nil, fmt.Errorf("worker for %s: %s: %w", spec.ID, m.Error, errdefs.ErrInvalidArgument)
	}
	cg, err := placeInCgroup(cmd.Process.Pid, spec.CgroupsPath, r.cfg.CgroupParent, spec.ID, spec.Resources)
	if err != nil {
		return nil, err
	}
	p.cg = cg
	go p.watch(dec)
	log.G(ctx).WithFields(log.Fields{"id": spec.ID, "pid": cmd.Process.Pid, "module": name}).Debug("worker ready")
	return p, nil
}

// startIn starts cmd in the network namespace at netns (when set): from a
// thread moved into it that is never used again.
func startIn(cmd *exec.Cmd, netns string) error {
	if netns == "" {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		f, err := os.Open(netns)
		if err != nil {
			errc <- fmt.Errorf("pod network namespace: %w", err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("join pod network namespace %s: %w", netns, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// sealedMemfd holds the module's bytes for the worker, immutable.
func sealedMemfd(bin []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("module", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "module")
	if _, err := f.Write(bin); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal module: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// process is the daemon's handle on one worker.
type process struct {
	r       *Runtime
	id      string
	cmd     *exec.Cmd
	ctrl    *os.File
	workDir string
	cg      cgroup

	sendMu sync.Mutex
	mu     sync.Mutex
	last   *exit // the worker's own report of the module's end
	done   chan struct{}
	exit   task.Exit

	closeOnce sync.Once
}

func (p *process) send(m message) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return json.NewEncoder(p.ctrl).Encode(m)
}

// watch reads the worker's messages until it exits, then records the exit.
func (p *process) watch(dec *json.Decoder) {
	go func() {
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Exit != nil {
				p.mu.Lock()
				p.last = m.Exit
				p.mu.Unlock()
			}
		}
	}()
	err := p.cmd.Wait()
	e := task.Exit{At: time.Now()}
	var ws syscall.WaitStatus
	if st := p.cmd.ProcessState; st != nil {
		ws, _ = st.Sys().(syscall.WaitStatus)
	}
	p.mu.Lock()
	last := p.last
	p.mu.Unlock()
	switch {
	case ws.Signaled():
		e.Code, e.Reason = 128+uint32(ws.Signal()), fmt.Sprintf("worker killed by signal %d", ws.Signal())
	case last != nil:
		e.Code, e.Reason = last.Code, last.Reason
	case err != nil && p.cmd.ProcessState == nil:
		e.Code, e.Reason = task.ExitTrap, fmt.Sprintf("worker: %v", err)
	default:
		e.Code = uint32(ws.ExitStatus())
	}
	p.mu.Lock()
	p.exit = e
	p.mu.Unlock()
	close(p.done)
}

func (p *process) Start(ctx context.Context) error {
	select {
	case <-p.done:
		return fmt.Errorf("worker for %s already exited: %w", p.id, errdefs.ErrFailedPrecondition)
	default:
	}
	if err := p.send(message{Start: true}); err != nil {
		return fmt.Errorf("start worker for %s: %w", p.id, err)
	}
	return nil
}

func (p *process) Kill(ctx context.Context, sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal worker %d: %w", p.cmd.Process.Pid, err)
	}
	return nil
}

func (p *process) Done() <-chan struct{} { return p.done }

func (p *process) Exit() task.Exit {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}

// Pid is the worker's, as the host sees it.
func (p *process) Pid() int { return p.cmd.Process.Pid }

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
			p.cmd.Process.Kill()
			<-p.done
		}
		p.ctrl.Close()
		if p.cg != nil {
			p.cg.Delete()
		}
		os.RemoveAll(p.workDir)
	})
	return nil
}
