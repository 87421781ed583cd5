package forked

import (
	"context"
	"fmt"

	"github.com/containerd/cgroups/v3/cgroup1"
	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

var _ task.Updater = (*process)(nil)

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
	pid := x.w.cmd.Process.Pid
	var err error
	switch c := p.cg.(type) {
	case cgroup1.Cgroup:
		err = c.Add(cgroup1.Process{Pid: pid})
	case *cgroup2.Manager:
		err = c.AddProc(uint64(pid))
	default:
		err = fmt.Errorf("cgroup of type %T: %w", p.cg, errdefs.ErrNotImplemented)
	}
	if err != nil {
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
	m, err := stats(c.cg)
	if err != nil {
		return nil, err
	}
	n := c.oomKills.Load()
	switch m := m.(type) {
	case *cg1.Metrics:
		if m.MemoryOomControl == nil {
			m.MemoryOomControl = &cg1.MemoryOomControl{}
		}
		m.MemoryOomControl.OomKill = max(m.MemoryOomControl.OomKill, n)
	case *cg2.Metrics:
		if m.MemoryEvents == nil {
			m.MemoryEvents = &cg2.MemoryEvents{}
		}
		m.MemoryEvents.OomKill = max(m.MemoryEvents.OomKill, n)
	}
	return m, nil
}

// cgroupOOMKills is how many processes the kernel's OOM killer ended in cg.
func cgroupOOMKills(cg cgroup) uint64 {
	if cg == nil {
		return 0
	}
	m, err := stats(cg)
	if err != nil {
		return 0
	}
	switch m := m.(type) {
	case *cg1.Metrics:
		return m.GetMemoryOomControl().GetOomKill()
	case *cg2.Metrics:
		return m.GetMemoryEvents().GetOomKill()
	}
	return 0
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
	if err := task.RefuseChanges(c.res, res, "the forked runtime's cgroup has the memory, cpu and pids controllers only", updatable...); err != nil {
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
	var err error
	switch cg := c.cg.(type) {
	case cgroup1.Cgroup:
		err = cg.Update(res)
	case *cgroup2.Manager:
		err = cg.Update(cgroup2.ToResources(res))
	default:
		err = fmt.Errorf("worker of %s has no cgroup: %w", p.id, errdefs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("cgroup update (the kernel refuses e.g. a memory limit below the usage): %v: %w", err, errdefs.ErrFailedPrecondition)
	}
	c.res = res
	for _, x := range append([]*process{c}, keys(c.children)...) {
		select {
		case <-x.done:
			continue
		default:
		}
		if err := x.send(message{MemoryLimit: limit}); err != nil {
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
