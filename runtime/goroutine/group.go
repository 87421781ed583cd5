package goroutine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// ModuleOverhead is the memory Stats counts for each running module besides
// its linear memory: an estimate of what wazero and the daemon hold per
// instance (module instance, call stacks, the goroutine and its thread's
// stack, WASI state, stdio), measured by TestModuleOverhead (1.0 MB for
// the 2.9 MB Go demo module; wazero's per-instance tables grow with the
// number of functions, so a small module costs less). The compiled
// code is shared by every instance of a module and counted for none.
const ModuleOverhead = 1 << 20

var (
	_ runtime.Execer  = (*process)(nil)
	_ runtime.Stater  = (*process)(nil)
	_ runtime.Updater = (*process)(nil)
)

// group is one container's modules in goroutine mode (its own and its
// exec'd ones): they share a memory budget (the container's limit) and are
// accounted together, as a cgroup accounts a container's processes.
type group struct {
	budget   *engine.Budget
	oomKills atomic.Uint64

	mu      sync.Mutex
	members map[*process]struct{}
	// closedCPU is the CPU time of members already closed (an exec
	// deleted): a cgroup keeps counting a process's time after it exited.
	closedCPU uint64
	res       *specs.LinuxResources // as created, then as updated
}

// newGroup is the group of a container's own module (an exec joins its
// container's).
func newGroup(spec runtime.ProcessSpec) *group {
	return &group{budget: engine.NewBudget(spec.Config.MemoryLimit), members: map[*process]struct{}{}, res: spec.Resources}
}

func (g *group) join(p *process) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members[p] = struct{}{}
}

func (g *group) leave(p *process) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.members[p]; ok {
		g.closedCPU += p.cpu.read()
		delete(g.members, p)
	}
}

// Stats are the container's figures as cgroup v1 Metrics, the type CRI
// decodes (docs/RATIONALE.md, "What do goroutine-mode stats measure?"):
// CPU time of the modules' threads; memory in use = linear memory held
// plus ModuleOverhead per running module; pids = running modules (one
// thread each); OOM kills = modules ended by the memory limit.
func (p *process) Stats(ctx context.Context) (any, error) {
	g := p.group
	g.mu.Lock()
	cpu := g.closedCPU
	var held, peak, running uint64
	for m := range g.members {
		cpu += m.cpu.read()
		held += m.mem.Held()
		peak += m.mem.Peak()
		select {
		case <-m.done:
		default:
			if m.cpu.tid.Load() != 0 {
				running++
			}
		}
	}
	g.mu.Unlock()
	usage := held + running*ModuleOverhead
	return &cg1.Metrics{
		CPU: &cg1.CPUStat{Usage: &cg1.CPUUsage{Total: cpu}},
		Memory: &cg1.MemoryStat{
			Usage:    &cg1.MemoryEntry{Usage: usage, Limit: g.budget.Limit(), Max: max(peak, usage)},
			RSS:      usage,
			TotalRSS: usage,
		},
		Pids:             &cg1.PidsStat{Current: running},
		MemoryOomControl: &cg1.MemoryOomControl{OomKill: g.oomKills.Load()},
	}, nil
}

// Update honours a new memory limit (the container's budget: the next
// memory.grow of any of its modules is checked against it). Nothing else
// of linux.resources can be honoured by modules that share the daemon's
// process; a limit below the linear memory already held is refused, since
// Wasm memory never shrinks.
func (p *process) Update(ctx context.Context, res *specs.LinuxResources) error {
	g := p.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := runtime.RefuseChanges(g.res, res, "a goroutine-mode module shares the daemon's process, so only memory.limit applies; use the forked runtime (RuntimeClass wasm-forked) for cpu, pids and io limits",
		"memory.limit", "memory.swap"); err != nil {
		return err
	}
	limit := uint64(wasispec.DefaultMemoryLimit)
	var mem specs.LinuxMemory
	if res.Memory != nil {
		mem = *res.Memory
	}
	if mem.Limit != nil {
		l, err := wasispec.MemoryLimitFromBytes(*mem.Limit)
		if err != nil {
			return err
		}
		limit = l
	}
	if mem.Swap != nil && *mem.Swap > 0 && mem.Limit != nil && *mem.Swap < *mem.Limit {
		return fmt.Errorf("linux.resources.memory.swap %d is below memory.limit %d: %w", *mem.Swap, *mem.Limit, errdefs.ErrInvalidArgument)
	}
	if used := g.budget.Used(); limit < used {
		return fmt.Errorf("linux.resources.memory.limit %d bytes is below the %d bytes of linear memory the container's modules hold, and Wasm memory cannot shrink: %w", limit, used, errdefs.ErrFailedPrecondition)
	}
	g.budget.SetLimit(limit)
	g.res = res
	return nil
}
