package forked

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroup is a container's cgroup (v1 or v2), removed when its workers are
// gone.
type cgroup interface {
	Delete() error
	// add moves a process (an exec's worker) into it.
	add(pid int) error
	// update applies new limits.
	update(res *specs.LinuxResources) error
	// stat returns cgroup v1 or v2 Metrics, the types containerd's runc
	// shim reports, with the OOM kill count at least minOOM.
	stat(minOOM uint64) (any, error)
}

type cgroupV1 struct{ cgroup1.Cgroup }

func (c cgroupV1) add(pid int) error                      { return c.Add(cgroup1.Process{Pid: pid}) }
func (c cgroupV1) update(res *specs.LinuxResources) error { return c.Update(res) }

func (c cgroupV1) stat(minOOM uint64) (any, error) {
	m, err := c.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, err
	}
	if m.MemoryOomControl == nil {
		m.MemoryOomControl = &cg1.MemoryOomControl{}
	}
	m.MemoryOomControl.OomKill = max(m.MemoryOomControl.OomKill, minOOM)
	return m, nil
}

type cgroupV2 struct{ *cgroup2.Manager }

func (c cgroupV2) add(pid int) error { return c.AddProc(uint64(pid)) }

func (c cgroupV2) update(res *specs.LinuxResources) error {
	return c.Update(cgroup2.ToResources(res))
}

func (c cgroupV2) stat(minOOM uint64) (any, error) {
	m, err := c.Stat()
	if err != nil {
		return nil, err
	}
	if m.MemoryEvents == nil {
		m.MemoryEvents = &cg2.MemoryEvents{}
	}
	m.MemoryEvents.OomKill = max(m.MemoryEvents.OomKill, minOOM)
	return m, nil
}

// oomKills is how many processes the kernel's OOM killer ended in cg.
func oomKills(cg cgroup) uint64 {
	if cg == nil {
		return 0
	}
	m, err := cg.stat(0)
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

// placeInCgroup creates the container's cgroup (cgroupfs-style
// linux.cgroupsPath, or <defaultParent>/<id> when the spec has none), applies
// its memory, cpu and pids limits and moves pid into it. cgroup v1 (what
// this machine has) and v2 are both handled by containerd/cgroups.
func placeInCgroup(pid int, cgroupsPath, defaultParent, id string, res *specs.LinuxResources) (cgroup, error) {
	p := cgroupsPath
	if p == "" {
		p = path.Join("/", defaultParent, id)
	}
	if strings.Contains(p, ":") {
		// systemd's "slice:prefix:name" needs the systemd cgroup driver,
		// which this runtime does not drive (no dbus here).
		return nil, fmt.Errorf("cgroupsPath %q is systemd-style: configure containerd's CRI with the cgroupfs driver for the wasm-forked runtime: %w", p, errdefs.ErrNotImplemented)
	}
	if !path.IsAbs(p) {
		p = "/" + p
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if m := res.Memory; m != nil && m.Limit != nil && *m.Limit <= 0 {
		// No limit, as wasispec reads it (and as OCI's -1 says); a
		// negative value written to the cgroup is EINVAL.
		r, mem := *res, *m
		mem.Limit = nil
		r.Memory = &mem
		res = &r
	}
	var cg cgroup
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager("/sys/fs/cgroup", p, cgroup2.ToResources(res))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
		cg = cgroupV2{m}
	} else {
		c, err := cgroup1.New(cgroup1.StaticPath(p), res, cgroup1.WithHierarchy(limitingSubsystems))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
		cg = cgroupV1{c}
	}
	if err := cg.add(pid); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: add worker: %w", p, err)
	}
	return cg, nil
}

// limitingSubsystems are the cgroup v1 hierarchies whose limits a worker
// gets (memory, cpu, pids) and cpuacct for its CPU time. Creating the
// cgroup in every mounted hierarchy (containerd/cgroups' default) cost
// 4.3 ms a task on a 10-hierarchy host.
func limitingSubsystems() ([]cgroup1.Subsystem, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, err
	}
	var out []cgroup1.Subsystem
	for _, s := range all {
		switch s.Name() {
		case cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Pids:
			out = append(out, s)
		}
	}
	return out, nil
}
