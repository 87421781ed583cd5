package task

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Exec prepares another module of the container's rootfs to run in the
// container's context (`crictl exec`, `ctr task exec`): argv[0] is
// resolved as for the container's own module, with the exec's args, env,
// cwd and stdio, and the container's mounts and memory limit. Start runs
// it; Wait, Kill, CloseIO, State and Delete address it by exec id.
func (s *Service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (_ *emptypb.Empty, retErr error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("task %q exec %q", r.ID, r.ExecID)
	if r.ExecID == "" {
		return nil, fmt.Errorf("task %q: exec id is empty: %w", r.ID, errdefs.ErrInvalidArgument)
	}
	if r.Terminal {
		return nil, fmt.Errorf("%s asks for a terminal: WASI modules have no tty, exec without -t/tty: %w", what, errdefs.ErrNotImplemented)
	}
	if st, _ := c.init.status(); st == taskStatusStopped {
		return nil, fmt.Errorf("%s: the task is not running: %w", what, errdefs.ErrFailedPrecondition)
	}
	var ps specs.Process
	if r.Spec == nil || json.Unmarshal(r.Spec.GetValue(), &ps) != nil {
		return nil, fmt.Errorf("%s: spec is not an OCI process: %w", what, errdefs.ErrInvalidArgument)
	}
	if ps.Terminal {
		return nil, fmt.Errorf("%s: process.terminal asks for a terminal: WASI modules have no tty: %w", what, errdefs.ErrNotImplemented)
	}
	s.mu.Lock()
	spec := *c.spec
	s.mu.Unlock()
	spec.Process = &ps
	cfg, err := wasispec.FromSpec(&spec, statDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	s.mu.Lock()
	if s.tasks[r.ID] != c {
		s.mu.Unlock()
		return nil, fmt.Errorf("task %q: %w", r.ID, errdefs.ErrNotFound)
	}
	if _, ok := c.execs[r.ExecID]; ok {
		s.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", what, errdefs.ErrAlreadyExists)
	}
	c.execs[r.ExecID] = nil // reserved
	s.mu.Unlock()
	defer func() {
		if retErr != nil {
			s.mu.Lock()
			if c.execs[r.ExecID] == nil {
				delete(c.execs, r.ExecID)
			}
			s.mu.Unlock()
		}
	}()

	execer, ok := c.init.p.(runtime.Execer)
	if !ok {
		return nil, fmt.Errorf("%s: this runtime cannot run another process in a container: %w", what, errdefs.ErrNotImplemented)
	}
	p, err := execer.Exec(ctx, runtime.ProcessSpec{
		ID: r.ID + "/" + r.ExecID, ContainerID: r.ID, Rootfs: c.rootfs, Config: cfg,
		Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr,
		Image:       s.images,
		CgroupsPath: linuxOf(&spec).CgroupsPath, Resources: linuxOf(&spec).Resources,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	x := newProc(r.ID, r.ExecID, p, r.Stdin, r.Stdout, r.Stderr)
	s.mu.Lock()
	if s.tasks[r.ID] != c { // deleted meanwhile
		s.mu.Unlock()
		p.Kill(ctx, syscall.SIGKILL)
		p.Close()
		return nil, fmt.Errorf("task %q: %w", r.ID, errdefs.ErrNotFound)
	}
	c.execs[r.ExecID] = x
	s.mu.Unlock()
	ns, _ := namespaces.Namespace(ctx)
	go s.watchExit(namespaces.WithNamespace(context.WithoutCancel(ctx), ns), c, x)
	log.G(ctx).WithFields(log.Fields{"sandbox": s.sandboxID, "id": r.ID, "exec": r.ExecID, "module": cfg.Args[0]}).Debug("exec created")
	s.pub.Publish(ctx, &eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

// deleteExec removes an exec'd process that has exited. Like runc's shim,
// it publishes no TaskDelete (that event is the container's).
func (s *Service) deleteExec(ctx context.Context, c *container, p *proc) (*taskapi.DeleteResponse, error) {
	s.mu.Lock()
	if c.execs[p.execID] != p {
		s.mu.Unlock()
		return nil, fmt.Errorf("task %q exec %q: %w", c.id, p.execID, errdefs.ErrNotFound)
	}
	delete(c.execs, p.execID)
	s.mu.Unlock()
	if err := p.p.Close(); err != nil {
		log.G(ctx).WithError(err).WithFields(log.Fields{"id": c.id, "exec": p.execID}).Warn("release exec process")
	}
	e := p.p.Exit()
	return &taskapi.DeleteResponse{Pid: uint32(p.p.Pid()), ExitStatus: e.Code, ExitedAt: protobuf.ToTimestamp(e.At)}, nil
}
