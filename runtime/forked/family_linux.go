package forked

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

var _ runtime.Updater = (*process)(nil)

// container is the init process of p's container (p itself unless p is
// an exec).
func (p *process) container() *process {
	if p.parent != nil {
		return p.parent
	}
	return p
}

// adopt puts exec x's worker in p's cgroup, with the same limits and
// accounting as the container's own module.
func (p *process) adopt(x *process) error {
	if p.cg == nil {
		return fmt.Errorf("exec %s: container %s has no cgroup: %w", x.id, p.id, errdefs.ErrFailedPrecondition)
	}
	if err := p.cg.add(x.w.cmd.Process.Pid); err != nil {
		return fmt.Errorf("exec %s: join the container's cgroup: %w", x.id, err)
	}
	x.cg = p.cg
	p.famMu.Lock()
	defer p.famMu.Unlock()
	if p.children == nil {
		p.children = map[*process]struct{}{}
	}
	p.children[x] = struct{}{}
	return nil
}

func (p *process) disown(x *process) {
	p.famMu.Lock()
	defer p.famMu.Unlock()
	delete(p.children, x)
}

// Stats are the container's cgroup metrics (its execs' workers are in the
// same cgroup). A module ended by its linear memory limit (which the
// worker enforces before the cgroup has to) counts as an OOM kill, so CRI
// reports OOMKilled whichever limit was hit.
func (p *process) Stats(ctx context.Context) (any, error) {
	c := p.container()
	if c.cg == nil {
		return nil, fmt.Errorf("worker of %s has no cgroup: %w", p.id, errdefs.ErrNotFound)
	}
	return c.cg.stat(c.oomKills.Load())
}

// updatable are the linux.resources fields the worker's cgroup (memory,
// cpu, cpuacct and pids hierarchies) applies.
var updatable = []string{
	"memory.limit", "memory.reservation", "memory.swap", "memory.swappiness",
	"cpu.shares", "cpu.quota", "cpu.period", "cpu.burst", "cpu.realtimeRuntime", "cpu.realtimePeriod", "cpu.idle",
	"pids.limit",
}

// Update applies new resources to the container's cgroup (the kernel
// refuses a memory limit below what the workers use) and gives every
// worker of the container the new linear memory cap.
func (p *process) Update(ctx context.Context, res *specs.LinuxResources) error {
	c := p.container()
	c.famMu.Lock()
	defer c.famMu.Unlock()
	if err := runtime.RefuseChanges(c.res, res, "the forked runtime's cgroup has the memory, cpu and pids controllers only", updatable...); err != nil {
		return err
	}
	limit := uint64(wasispec.DefaultMemoryLimit)
	if res.Memory != nil && res.Memory.Limit != nil {
		l, err := wasispec.MemoryLimitFromBytes(*res.Memory.Limit)
		if err != nil {
			return err
		}
		limit = l
	}
	if c.cg == nil {
		return fmt.Errorf("worker of %s has no cgroup: %w", p.id, errdefs.ErrNotFound)
	}
	if err := c.cg.update(res); err != nil {
		return fmt.Errorf("cgroup update (the kernel refuses e.g. a memory limit below the usage): %v: %w", err, errdefs.ErrFailedPrecondition)
	}
	c.res = res
	for _, x := range append([]*process{c}, keys(c.children)...) {
		select {
		case <-x.done:
			continue
		default:
		}
		if err := x.send(workerproto.Message{MemoryLimit: limit}); err != nil {
			return fmt.Errorf("worker of %s: new memory limit: %w", x.id, err)
		}
	}
	return nil
}

func keys(m map[*process]struct{}) []*process {
	out := make([]*process, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
