package forked

import (
	"fmt"
	"path"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroup is a worker's cgroup, removed when the worker is gone.
type cgroup interface {
	Delete() error
}

// stats reads a worker's cgroup metrics: cgroup v1 or v2 Metrics, the
// types containerd's runc shim reports.
func stats(cg cgroup) (any, error) {
	switch c := cg.(type) {
	case cgroup1.Cgroup:
		return c.Stat(cgroup1.IgnoreNotExist)
	case *cgroup2.Manager:
		return c.Stat()
	}
	return nil, fmt.Errorf("cgroup of type %T: %w", cg, errdefs.ErrNotImplemented)
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
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager("/sys/fs/cgroup", p, cgroup2.ToResources(res))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
		if err := m.AddProc(uint64(pid)); err != nil {
			m.Delete()
			return nil, fmt.Errorf("cgroup %s: add worker: %w", p, err)
		}
		return m, nil
	}
	cg, err := cgroup1.New(cgroup1.StaticPath(p), res, cgroup1.WithHierarchy(limitingSubsystems))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p, err)
	}
	if err := cg.Add(cgroup1.Process{Pid: pid}); err != nil {
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
