package task

import (
	"context"
	"fmt"
	"math"
	"time"

	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// Stats reports the task's resource use (`crictl stats`, `ctr task
// metrics`): cgroup Metrics, from the worker's cgroup in forked mode and
// measured by the runtime in goroutine mode (docs/RATIONALE.md). It also
// answers after the task exited, until Delete: CRI reads the OOM count
// there before it deletes a task that exited 137.
func (s *Service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	m, err := statsOf(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("task %q: stats: %w", r.ID, err)
	}
	data, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, fmt.Errorf("task %q: stats: %w", r.ID, err)
	}
	return &taskapi.StatsResponse{Stats: data}, nil
}

func statsOf(ctx context.Context, c *container) (any, error) {
	st, ok := c.init.p.(runtime.Stater)
	if !ok {
		return nil, fmt.Errorf("the runtime accounts no resources per task: %w", errdefs.ErrNotImplemented)
	}
	return st.Stats(ctx)
}

// Metrics is the pod's total resource use, the sum of its tasks' (the
// Controller's Metrics; `crictl statsp`), as the cgroup v1 or v2 Metrics
// its tasks report (cgroup v1 for a pod without tasks).
func (s *Service) Metrics(ctx context.Context) (*types.Metric, error) {
	var v1 []*cg1.Metrics
	var v2 []*cg2.Metrics
	for _, c := range s.containers() {
		m, err := statsOf(ctx, c)
		if err != nil {
			// A task being deleted meanwhile has no stats any more.
			log.G(ctx).WithError(err).WithFields(log.Fields{"sandbox": s.sandboxID, "id": c.id}).Debug("pod metrics: task skipped")
			continue
		}
		switch m := m.(type) {
		case *cg1.Metrics:
			v1 = append(v1, m)
		case *cg2.Metrics:
			v2 = append(v2, m)
		}
	}
	var total any
	switch {
	case len(v1) > 0 && len(v2) > 0:
		return nil, fmt.Errorf("sandbox %q: tasks report both cgroup v1 and v2 metrics: %w", s.sandboxID, errdefs.ErrInternal)
	case len(v2) > 0:
		total = sumV2(v2...)
	default:
		total = sumV1(v1...)
	}
	data, err := typeurl.MarshalAnyToProto(total)
	if err != nil {
		return nil, fmt.Errorf("sandbox %q: metrics: %w", s.sandboxID, err)
	}
	return &types.Metric{Timestamp: protobuf.ToTimestamp(time.Now()), ID: s.sandboxID, Data: data}, nil
}

// add sums with saturation: limits of "unlimited" stay unlimited.
func add(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// sumV1 adds up the fields of cgroup v1 Metrics that CRI and `ctr task
// metrics` read: CPU time, memory usage, limit and peak, RSS, inactive
// file, page faults, pids and OOM kills.
func sumV1(ms ...*cg1.Metrics) *cg1.Metrics {
	t := &cg1.Metrics{
		CPU:              &cg1.CPUStat{Usage: &cg1.CPUUsage{}},
		Memory:           &cg1.MemoryStat{Usage: &cg1.MemoryEntry{}},
		Pids:             &cg1.PidsStat{},
		MemoryOomControl: &cg1.MemoryOomControl{},
	}
	for _, m := range ms {
		u := m.GetCPU().GetUsage()
		t.CPU.Usage.Total = add(t.CPU.Usage.Total, u.GetTotal())
		t.CPU.Usage.User = add(t.CPU.Usage.User, u.GetUser())
		t.CPU.Usage.Kernel = add(t.CPU.Usage.Kernel, u.GetKernel())
		mem := m.GetMemory()
		t.Memory.Usage.Usage = add(t.Memory.Usage.Usage, mem.GetUsage().GetUsage())
		t.Memory.Usage.Limit = add(t.Memory.Usage.Limit, mem.GetUsage().GetLimit())
		t.Memory.Usage.Max = add(t.Memory.Usage.Max, mem.GetUsage().GetMax())
		t.Memory.Usage.Failcnt = add(t.Memory.Usage.Failcnt, mem.GetUsage().GetFailcnt())
		t.Memory.RSS = add(t.Memory.RSS, mem.GetRSS())
		t.Memory.TotalRSS = add(t.Memory.TotalRSS, mem.GetTotalRSS())
		t.Memory.Cache = add(t.Memory.Cache, mem.GetCache())
		t.Memory.TotalCache = add(t.Memory.TotalCache, mem.GetTotalCache())
		t.Memory.TotalInactiveFile = add(t.Memory.TotalInactiveFile, mem.GetTotalInactiveFile())
		t.Memory.TotalPgFault = add(t.Memory.TotalPgFault, mem.GetTotalPgFault())
		t.Memory.TotalPgMajFault = add(t.Memory.TotalPgMajFault, mem.GetTotalPgMajFault())
		t.Pids.Current = add(t.Pids.Current, m.GetPids().GetCurrent())
		t.Pids.Limit = add(t.Pids.Limit, m.GetPids().GetLimit())
		t.MemoryOomControl.OomKill = add(t.MemoryOomControl.OomKill, m.GetMemoryOomControl().GetOomKill())
	}
	return t
}

// sumV2 is sumV1 for cgroup v2 Metrics.
func sumV2(ms ...*cg2.Metrics) *cg2.Metrics {
	t := &cg2.Metrics{CPU: &cg2.CPUStat{}, Memory: &cg2.MemoryStat{}, Pids: &cg2.PidsStat{}, MemoryEvents: &cg2.MemoryEvents{}}
	for _, m := range ms {
		t.CPU.UsageUsec = add(t.CPU.UsageUsec, m.GetCPU().GetUsageUsec())
		t.CPU.UserUsec = add(t.CPU.UserUsec, m.GetCPU().GetUserUsec())
		t.CPU.SystemUsec = add(t.CPU.SystemUsec, m.GetCPU().GetSystemUsec())
		mem := m.GetMemory()
		t.Memory.Usage = add(t.Memory.Usage, mem.GetUsage())
		t.Memory.UsageLimit = add(t.Memory.UsageLimit, mem.GetUsageLimit())
		t.Memory.MaxUsage = add(t.Memory.MaxUsage, mem.GetMaxUsage())
		t.Memory.Anon = add(t.Memory.Anon, mem.GetAnon())
		t.Memory.File = add(t.Memory.File, mem.GetFile())
		t.Memory.InactiveFile = add(t.Memory.InactiveFile, mem.GetInactiveFile())
		t.Memory.Pgfault = add(t.Memory.Pgfault, mem.GetPgfault())
		t.Memory.Pgmajfault = add(t.Memory.Pgmajfault, mem.GetPgmajfault())
		t.Pids.Current = add(t.Pids.Current, m.GetPids().GetCurrent())
		t.Pids.Limit = add(t.Pids.Limit, m.GetPids().GetLimit())
		t.MemoryEvents.OomKill = add(t.MemoryEvents.OomKill, m.GetMemoryEvents().GetOomKill())
	}
	return t
}
