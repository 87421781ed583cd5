package task

import (
	"context"
	"encoding/json"
	"fmt"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Update changes a running task's linux.resources (`crictl update`, CRI
// UpdateContainerResources). What the runtime can honour takes effect;
// anything else fails naming the field (docs/RATIONALE.md, "What can
// Update honour?"), and then nothing changed.
func (s *Service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if r.Resources == nil {
		return &emptypb.Empty{}, nil // annotations only: nothing to apply
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(r.Resources.GetValue(), &res); err != nil {
		return nil, fmt.Errorf("task %q: resources are not OCI linux.resources: %v: %w", r.ID, err, errdefs.ErrInvalidArgument)
	}
	if st, _ := c.init.status(); st == taskStatusStopped {
		return nil, fmt.Errorf("task %q has exited: cannot update its resources: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	u, ok := c.init.p.(runtime.Updater)
	if !ok {
		return nil, fmt.Errorf("task %q: the runtime cannot update resources: %w", r.ID, errdefs.ErrNotImplemented)
	}
	if err := u.Update(ctx, &res); err != nil {
		return nil, fmt.Errorf("task %q: update: %w", r.ID, err)
	}
	// Later execs get the new limits too.
	s.mu.Lock()
	spec := *c.spec
	l := *linuxOf(&spec)
	l.Resources = &res
	spec.Linux = &l
	c.spec = &spec
	s.mu.Unlock()
	log.G(ctx).WithFields(log.Fields{"sandbox": s.sandboxID, "id": r.ID}).Debug("resources updated")
	return &emptypb.Empty{}, nil
}
