// Package task serves containerd's task API (containerd.task.v3.Task) for
// the containers of one sandbox, running each container's module through a
// Runtime.
package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/deletemark"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/listen"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Publisher forwards task events to containerd. Publish must not block.
type Publisher interface {
	Publish(ctx context.Context, event any)
}

// maxSpecBytes bounds config.json so a hostile bundle cannot exhaust memory.
const maxSpecBytes = 4 << 20

// Service implements taskapi.TTRPCTaskService for one sandbox.
type Service struct {
	sandboxID string
	rt        runtime.Runtime
	pub       Publisher
	// onEmptyShutdown, when set, runs after a Shutdown call finds no task
	// left: the sandbox was made for one task (the ctr path) and ends
	// with it.
	onEmptyShutdown func()
	// images provides modules from image layers; may be nil.
	images imagemodule.Source
	// netns is the pod's network namespace, where listeners are opened.
	netns string

	mu    sync.Mutex
	tasks map[string]*container
}

var _ taskapi.TTRPCTaskService = (*Service)(nil)

// ServiceOption configures a Service.
type ServiceOption func(*Service)

// WithShutdownWhenEmpty makes a Shutdown call that finds no task left run
// fn (in its own goroutine): containerd calls Shutdown after deleting a
// task, and a sandbox made for that one task should then go away.
func WithShutdownWhenEmpty(fn func()) ServiceOption {
	return func(s *Service) { s.onEmptyShutdown = fn }
}

// WithImageModules lets tasks run modules carried as image layers.
func WithImageModules(im imagemodule.Source) ServiceOption {
	return func(s *Service) { s.images = im }
}

// NewService returns the task service of sandbox sandboxID.
func NewService(sandboxID string, rt runtime.Runtime, pub Publisher, opts ...ServiceOption) *Service {
	s := &Service{sandboxID: sandboxID, rt: rt, pub: pub, tasks: map[string]*container{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// container is one task: its init process, its exec'd processes and the
// rootfs it mounted.
type container struct {
	id      string
	bundle  string
	rootfs  string
	mounted bool
	// spec is config.json; an exec's process replaces its process.
	spec *specs.Spec
	init *proc
	// execs is guarded by Service.mu; a nil entry reserves an exec id.
	execs map[string]*proc
}

func (s *Service) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("task %q in sandbox %q: %w", id, s.sandboxID, errdefs.ErrNotFound)
	}
	if c == nil {
		// Reserved by a Create or a Delete in progress: not a task now.
		return nil, fmt.Errorf("task %q in sandbox %q is being created or deleted: %w", id, s.sandboxID, errdefs.ErrNotFound)
	}
	return c, nil
}

// procOf returns the process addressed by (id, execID).
func (s *Service) procOf(id, execID string) (*container, *proc, error) {
	c, err := s.get(id)
	if err != nil {
		return nil, nil, err
	}
	if execID == "" {
		return c, c.init, nil
	}
	s.mu.Lock()
	p := c.execs[execID]
	s.mu.Unlock()
	if p == nil {
		return nil, nil, fmt.Errorf("exec process %q of task %q: %w", execID, id, errdefs.ErrNotFound)
	}
	return c, p, nil
}

// Create mounts the rootfs, reads config.json and prepares the module.
// It never answers NotImplemented: containerd takes that as "this shim
// speaks an older task API", downgrades to v2 and retries, and the caller
// then sees "service containerd.task.v2.Task" instead of the reason
// (core/runtime/v2/task_manager.go). What is unsupported (a terminal, a
// component) is InvalidArgument here.
func (s *Service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (*taskapi.CreateTaskResponse, error) {
	resp, err := s.create(ctx, r)
	if errdefs.IsNotImplemented(err) {
		msg := strings.TrimSuffix(err.Error(), ": "+errdefs.ErrNotImplemented.Error())
		return nil, fmt.Errorf("%s (not supported): %w", msg, errdefs.ErrInvalidArgument)
	}
	return resp, err
}

func (s *Service) create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, retErr error) {
	if r.ID == "" {
		return nil, fmt.Errorf("task id is empty: %w", errdefs.ErrInvalidArgument)
	}
	if r.Terminal {
		return nil, fmt.Errorf("task %q asks for a terminal: WASI modules have no tty, run without -t/tty: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, fmt.Errorf("task %q: checkpoint/restore is not supported: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	if !filepath.IsAbs(r.Bundle) {
		return nil, fmt.Errorf("task %q: bundle %q is not an absolute path: %w", r.ID, r.Bundle, errdefs.ErrInvalidArgument)
	}
	ns, _ := namespaces.Namespace(ctx)
	logger := log.G(ctx).WithFields(log.Fields{"sandbox": s.sandboxID, "id": r.ID})

	s.mu.Lock()
	if _, ok := s.tasks[r.ID]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("task %q: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	// Reserve the id so a concurrent Create of the same id fails fast.
	s.tasks[r.ID] = nil
	s.mu.Unlock()
	defer func() {
		if retErr != nil {
			s.mu.Lock()
			delete(s.tasks, r.ID)
			s.mu.Unlock()
		}
	}()

	spec, err := readSpec(r.Bundle)
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", r.ID, err)
	}
	c := &container{id: r.ID, bundle: r.Bundle, spec: spec, execs: map[string]*proc{}}
	if err := c.mountRootfs(r.Rootfs, spec); err != nil {
		return nil, fmt.Errorf("task %q: %w", r.ID, err)
	}
	defer func() {
		if retErr != nil {
			c.unmountRootfs(ctx)
		}
	}()
	cfg, err := wasispec.FromSpec(spec, statDir)
	if err != nil {
		return nil, fmt.Errorf("task %q: config.json: %w", r.ID, err)
	}
	if cfg.Terminal {
		return nil, fmt.Errorf("task %q: config.json asks for a terminal (process.terminal): WASI modules have no tty: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	lns, lports, err := s.openListeners(spec) // listeners.go
	if err != nil {
		return nil, fmt.Errorf("task %q: %w", r.ID, err)
	}
	p, err := s.rt.Prepare(ctx, runtime.ProcessSpec{
		ID: r.ID, ContainerID: r.ID, Rootfs: c.rootfs, Config: cfg,
		Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr,
		Image:       s.images,
		CgroupsPath: linuxOf(spec).CgroupsPath, Resources: linuxOf(spec).Resources,
		Listeners: lns,
	})
	if err != nil {
		listen.Close(lns)
		return nil, fmt.Errorf("task %q: %w", r.ID, err)
	}
	if len(lports) > 0 {
		logger = logger.WithField("ports", lports)
	}
	c.init = newProc(r.ID, "", p, r.Stdin, r.Stdout, r.Stderr)
	go s.watchExit(namespaces.WithNamespace(context.WithoutCancel(ctx), ns), c, c.init)

	s.mu.Lock()
	s.tasks[r.ID] = c
	s.mu.Unlock()
	logger.Debug("task created")

	s.pub.Publish(ctx, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr},
		Pid:         uint32(p.Pid()),
	})
	return &taskapi.CreateTaskResponse{Pid: uint32(p.Pid())}, nil
}

// Start runs the task's module, or one of its exec'd processes.
func (s *Service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	c, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.ExecID != "" {
		if st, _ := c.init.status(); st == taskStatusStopped {
			return nil, fmt.Errorf("exec %q: task %q is not running: %w", r.ExecID, r.ID, errdefs.ErrFailedPrecondition)
		}
	}
	if err := p.start(ctx, func() {
		// Queued before the module can run, so its start always precedes
		// its exit.
		if r.ExecID != "" {
			s.pub.Publish(ctx, &eventstypes.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: uint32(p.p.Pid())})
			return
		}
		s.pub.Publish(ctx, &eventstypes.TaskStart{ContainerID: r.ID, Pid: uint32(p.p.Pid())})
	}); err != nil {
		return nil, fmt.Errorf("task %q%s: %w", r.ID, execSuffix(r.ExecID), err)
	}
	return &taskapi.StartResponse{Pid: uint32(p.p.Pid())}, nil
}

// execSuffix names an exec in messages: ` exec "e1"`, or nothing.
func execSuffix(execID string) string {
	if execID == "" {
		return ""
	}
	return fmt.Sprintf(" exec %q", execID)
}

// watchExit publishes a process's exit (after TaskOOM when it hit its
// memory limit), then makes the exit visible to Wait, State and Delete: an
// exit event always precedes the delete event. When a container's init
// process ends, its exec'd processes end too, as every process of a
// container's pid namespace does with runc.
func (s *Service) watchExit(ctx context.Context, c *container, p *proc) {
	<-p.p.Done()
	e := p.p.Exit()
	if e.Reason != "" {
		log.G(ctx).WithFields(log.Fields{"sandbox": s.sandboxID, "id": p.id, "exec": p.execID, "exit": e.Code}).Warn(e.Reason)
	}
	if e.OOM {
		s.pub.Publish(ctx, &eventstypes.TaskOOM{ContainerID: p.id})
	}
	id := p.id
	if p.execID != "" {
		id = p.execID
	}
	s.pub.Publish(ctx, &eventstypes.TaskExit{
		ContainerID: p.id, ID: id, Pid: uint32(p.p.Pid()),
		ExitStatus: e.Code, ExitedAt: protobuf.ToTimestamp(e.At),
	})
	if p.execID == "" {
		for _, x := range s.execsOf(c) {
			s.killProc(ctx, x, syscall.SIGKILL)
		}
	}
	close(p.exited)
}

// execsOf lists a container's exec'd processes.
func (s *Service) execsOf(c *container) []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*proc
	for _, x := range c.execs {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

// killProc ends p unless it has ended, logging a failure.
func (s *Service) killProc(ctx context.Context, p *proc, sig syscall.Signal) {
	select {
	case <-p.p.Done():
		return
	default:
	}
	if err := p.p.Kill(ctx, sig); err != nil {
		log.G(ctx).WithError(err).WithFields(log.Fields{"id": p.id, "exec": p.execID}).Warn("kill")
	}
}

// State reports the task's status.
func (s *Service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	c, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	st, exit := p.status()
	return &taskapi.StateResponse{
		ID: r.ID, ExecID: r.ExecID, Bundle: c.bundle, Pid: uint32(p.p.Pid()), Status: st,
		Stdin: p.stdin, Stdout: p.stdout, Stderr: p.stderr,
		ExitStatus: exit.Code, ExitedAt: protobuf.ToTimestamp(exit.At),
	}, nil
}

// Wait blocks until the task exits or ctx ends.
func (s *Service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e := p.p.Exit()
	return &taskapi.WaitResponse{ExitStatus: e.Code, ExitedAt: protobuf.ToTimestamp(e.At)}, nil
}

// Kill ends the task (with All, its exec'd processes too) or one exec'd
// process. As containerd's runc shim answers: killing an exited process is
// NotFound ("process already finished"), killing an exec that was never
// started is FailedPrecondition ("process not created").
func (s *Service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	c, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Signal == 0 || r.Signal > 64 {
		return nil, fmt.Errorf("task %q%s: signal %d: %w", r.ID, execSuffix(r.ExecID), r.Signal, errdefs.ErrInvalidArgument)
	}
	if r.All && r.ExecID == "" {
		for _, x := range s.execsOf(c) {
			s.killProc(ctx, x, syscall.Signal(r.Signal))
		}
	}
	select {
	case <-p.exited:
		return nil, fmt.Errorf("task %q%s: process already finished: %w", r.ID, execSuffix(r.ExecID), errdefs.ErrNotFound)
	default:
	}
	if st, _ := p.status(); st == taskStatusCreated && r.ExecID != "" {
		return nil, fmt.Errorf("task %q%s: process not created (not started yet): %w", r.ID, execSuffix(r.ExecID), errdefs.ErrFailedPrecondition)
	}
	if err := p.p.Kill(ctx, syscall.Signal(r.Signal)); err != nil {
		return nil, fmt.Errorf("task %q%s: kill: %w", r.ID, execSuffix(r.ExecID), err)
	}
	return &emptypb.Empty{}, nil
}

// Delete removes an exited (or never started) task and unmounts its
// rootfs, or removes one exec'd process. A running one is refused with
// runc's shim's words ("cannot delete a running process"), typed
// FailedPrecondition as containerd's client types the same refusal.
func (s *Service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	c, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	st, _ := p.status()
	switch st {
	case taskStatusRunning, tasktypes.Status_PAUSED:
		return nil, fmt.Errorf("task %q%s: cannot delete a running process, kill it first: %w", r.ID, execSuffix(r.ExecID), errdefs.ErrFailedPrecondition)
	case taskStatusCreated:
		// A created task is deleted the way runc deletes one: it is ended.
		if err := p.p.Kill(ctx, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("task %q%s: %w", r.ID, execSuffix(r.ExecID), err)
		}
		<-p.exited
	}
	if r.ExecID != "" {
		return s.deleteExec(ctx, c, p)
	}
	s.mu.Lock()
	if s.tasks[r.ID] != c {
		s.mu.Unlock()
		return nil, fmt.Errorf("task %q: %w", r.ID, errdefs.ErrNotFound)
	}
	// The id stays reserved until the task's resources are released (a
	// forked worker's cgroup is named after it): a Create of the same id
	// meanwhile is AlreadyExists, not a collision.
	s.tasks[r.ID] = nil
	execs := c.detachExecs()
	s.mu.Unlock()

	e := p.p.Exit()
	c.release(ctx, execs)
	s.mu.Lock()
	delete(s.tasks, r.ID)
	s.mu.Unlock()
	s.pub.Publish(ctx, &eventstypes.TaskDelete{
		ContainerID: r.ID, ID: r.ID, Pid: uint32(p.p.Pid()),
		ExitStatus: e.Code, ExitedAt: protobuf.ToTimestamp(e.At),
	})
	resp := &taskapi.DeleteResponse{Pid: uint32(p.p.Pid()), ExitStatus: e.Code, ExitedAt: protobuf.ToTimestamp(e.At)}
	markDeleted(ctx, c.bundle, resp)
	return resp, nil
}

// markDeleted leaves the task's delete record in its bundle, so the
// runtime binary's `delete` that containerd runs next knows there is
// nothing to clean up (package deletemark). Without it that `delete` takes
// its slow path, which still answers right: so a failure is only logged.
func markDeleted(ctx context.Context, bundle string, resp *taskapi.DeleteResponse) {
	b, err := proto.Marshal(resp)
	if err == nil {
		err = deletemark.Write(bundle, b)
	}
	if err != nil {
		log.G(ctx).WithError(err).WithField("bundle", bundle).Warn("delete record not written: the runtime binary's delete will take its slow path")
	}
}

// Pids lists the host processes running the task's modules (in goroutine
// mode one: the daemon).
func (s *Service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	out := []*tasktypes.ProcessInfo{{Pid: uint32(c.init.p.Pid())}}
	for _, x := range s.execsOf(c) {
		if !slices.ContainsFunc(out, func(pi *tasktypes.ProcessInfo) bool { return pi.Pid == uint32(x.p.Pid()) }) {
			out = append(out, &tasktypes.ProcessInfo{Pid: uint32(x.p.Pid())})
		}
	}
	return &taskapi.PidsResponse{Processes: out}, nil
}

// Connect answers containerd's (re)connection.
func (s *Service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	return &taskapi.ConnectResponse{ShimPid: uint32(os.Getpid()), TaskPid: uint32(c.init.p.Pid())}, nil
}

// CloseIO closes the task's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	_, p, err := s.procOf(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		if err := p.p.CloseStdin(); err != nil {
			return nil, fmt.Errorf("task %q: close stdin: %w", r.ID, err)
		}
	}
	return &emptypb.Empty{}, nil
}

// Shutdown follows every task Delete. The endpoint belongs to the sandbox,
// so it stays up, unless the sandbox was made for that one task (the ctr
// path) and no task is left.
func (s *Service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	if s.onEmptyShutdown != nil && s.Len() == 0 {
		go s.onEmptyShutdown()
	}
	return &emptypb.Empty{}, nil
}

// Pause freezes the task (forked runtime; NotImplemented in goroutine mode).
func (s *Service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	return s.setPaused(ctx, r.ID, true, &eventstypes.TaskPaused{ContainerID: r.ID})
}

// Resume thaws a paused task.
func (s *Service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	return s.setPaused(ctx, r.ID, false, &eventstypes.TaskResumed{ContainerID: r.ID})
}

func (s *Service) setPaused(ctx context.Context, id string, pause bool, event any) (*emptypb.Empty, error) {
	_, p, err := s.procOf(id, "")
	if err != nil {
		return nil, err
	}
	if err := p.setPaused(ctx, pause); err != nil {
		return nil, fmt.Errorf("task %q: %w", id, err)
	}
	s.pub.Publish(ctx, event)
	return &emptypb.Empty{}, nil
}

// Checkpoint is not supported for Wasm tasks.
func (s *Service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, notImplemented("checkpoint")
}

// ResizePty is refused: WASI modules have no terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	return nil, fmt.Errorf("resize pty: WASI modules have no terminal: %w", errdefs.ErrNotImplemented)
}

// containers lists the sandbox's tasks (not the ids reserved by a Create
// or a Delete in progress).
func (s *Service) containers() []*container {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*container, 0, len(s.tasks))
	for _, c := range s.tasks {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// KillAll ends every task of the sandbox and waits for them to exit.
func (s *Service) KillAll(ctx context.Context) {
	var procs []*proc
	for _, c := range s.containers() {
		procs = append(append(procs, c.init), s.execsOf(c)...)
	}
	for _, p := range procs {
		select {
		case <-p.p.Done():
			continue
		default:
		}
		if err := p.p.Kill(ctx, syscall.SIGKILL); err != nil {
			log.G(ctx).WithError(err).WithField("id", p.id).Warn("kill on sandbox stop")
		}
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-ctx.Done():
			return
		}
	}
}

// Close releases every task's resources; the sandbox is going away.
func (s *Service) Close(ctx context.Context) {
	s.KillAll(ctx)
	s.mu.Lock()
	tasks := s.tasks
	s.tasks = map[string]*container{}
	execs := map[*container][]*proc{}
	for _, c := range tasks {
		if c != nil {
			execs[c] = c.detachExecs()
		}
	}
	s.mu.Unlock()
	for _, c := range tasks {
		if c != nil {
			c.release(ctx, execs[c])
		}
	}
}

// Len is the number of tasks the sandbox holds.
func (s *Service) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

func notImplemented(what string) error {
	return fmt.Errorf("%s is not implemented by wasm-sandboxer yet: %w", what, errdefs.ErrNotImplemented)
}

func readSpec(bundle string) (*specs.Spec, error) {
	// O_NONBLOCK: a fifo in the bundle's place must not block Create
	// forever (an open(2) cannot be interrupted); only a file is a spec.
	f, err := os.OpenFile(filepath.Join(bundle, "config.json"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open config.json: %v: %w", errors.Unwrap(err), errdefs.ErrInvalidArgument)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config.json is not a regular file: %w", errdefs.ErrInvalidArgument)
	}
	var spec specs.Spec
	dec := json.NewDecoder(&limitedReader{r: f, n: maxSpecBytes})
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("config.json is not a valid OCI runtime spec: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return &spec, nil
}

func (c *container) mountRootfs(mounts []*types.Mount, spec *specs.Spec) error {
	c.rootfs = filepath.Join(c.bundle, "rootfs")
	if len(mounts) == 0 {
		if spec.Root != nil && spec.Root.Path != "" {
			c.rootfs = spec.Root.Path
			if !filepath.IsAbs(c.rootfs) {
				c.rootfs = filepath.Join(c.bundle, c.rootfs)
			}
		}
		return nil
	}
	if err := os.MkdirAll(c.rootfs, 0o711); err != nil {
		return fmt.Errorf("create rootfs dir: %w", err)
	}
	ms := make([]mount.Mount, 0, len(mounts))
	for _, m := range mounts {
		ms = append(ms, mount.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
	}
	if err := mount.All(ms, c.rootfs); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	c.mounted = true
	return nil
}

func (c *container) unmountRootfs(ctx context.Context) {
	if !c.mounted {
		return
	}
	if err := mount.UnmountRecursive(c.rootfs, 0); err != nil {
		log.G(ctx).WithError(err).WithField("rootfs", c.rootfs).Warn("unmount rootfs")
		return
	}
	c.mounted = false
}

// release frees the container's processes (execs first: they run in
// the init process's context) and unmounts its rootfs. The caller has
// removed c from the service and taken its execs (detachExecs).
func (c *container) release(ctx context.Context, execs []*proc) {
	for _, x := range execs {
		if err := x.p.Close(); err != nil {
			log.G(ctx).WithError(err).WithFields(log.Fields{"id": c.id, "exec": x.execID}).Warn("release exec process")
		}
	}
	if err := c.init.p.Close(); err != nil {
		log.G(ctx).WithError(err).WithField("id", c.id).Warn("release process")
	}
	c.unmountRootfs(ctx)
}

// detachExecs empties c's execs and returns them; under Service.mu.
func (c *container) detachExecs() []*proc {
	var out []*proc
	for _, x := range c.execs {
		if x != nil {
			out = append(out, x)
		}
	}
	c.execs = map[string]*proc{}
	return out
}

// linuxOf is the spec's linux section, empty when it has none.
func linuxOf(spec *specs.Spec) *specs.Linux {
	if spec.Linux == nil {
		return &specs.Linux{}
	}
	return spec.Linux
}

func statDir(p string) (bool, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}
