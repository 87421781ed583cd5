package forked

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	cg1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	cg2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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

// cgroupV1 and cgroupV2 add allowance, in bytes, to every memory limit
// they apply: what a worker's setup charged to the cgroup before the
// module got it (a claimed spare's, spare_linux.go), so that the
// container's limit stays the module's.
type cgroupV1 struct {
	cgroup1.Cgroup
	path      string
	allowance uint64
}

// Delete removes the cgroup's directories (its workers are gone).
func (c cgroupV1) Delete() error { return removeCgroup(c.path) }

func (c cgroupV1) add(pid int) error { return c.Add(cgroup1.Process{Pid: pid}) }
func (c cgroupV1) update(res *specs.LinuxResources) error {
	return c.Update(allowing(res, c.allowance))
}

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

type cgroupV2 struct {
	*cgroup2.Manager
	path      string
	allowance uint64
}

// Delete removes the cgroup's directory (its workers are gone).
func (c cgroupV2) Delete() error { return removeCgroup(c.path) }

func (c cgroupV2) add(pid int) error { return c.AddProc(uint64(pid)) }

func (c cgroupV2) update(res *specs.LinuxResources) error {
	return c.Update(cgroup2.ToResources(allowing(res, c.allowance)))
}

// allowing returns res with extra bytes added to its memory and swap
// limits, when it has them.
func allowing(res *specs.LinuxResources, extra uint64) *specs.LinuxResources {
	if extra == 0 || res == nil || res.Memory == nil {
		return res
	}
	r, m := *res, *res.Memory
	if m.Limit != nil && *m.Limit > 0 {
		l := *m.Limit + int64(extra)
		m.Limit = &l
	}
	if m.Swap != nil && *m.Swap > 0 {
		sw := *m.Swap + int64(extra)
		m.Swap = &sw
	}
	r.Memory = &m
	return &r
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

// cgroupPath is the container's cgroup: the cgroupfs-style
// linux.cgroupsPath, or <defaultParent>/<id> when the spec has none.
func cgroupPath(cgroupsPath, defaultParent, id string) (string, error) {
	p := cgroupsPath
	if p == "" {
		p = path.Join("/", defaultParent, id)
	}
	if strings.Contains(p, ":") {
		// systemd's "slice:prefix:name" needs the systemd cgroup driver,
		// which this runtime does not drive (no dbus here).
		return "", fmt.Errorf("cgroupsPath %q is systemd-style: configure containerd's CRI with the cgroupfs driver for the wasm-forked runtime: %w", p, errdefs.ErrNotImplemented)
	}
	if !path.IsAbs(p) {
		p = "/" + p
	}
	return path.Clean(p), nil
}

// normalized is res with a memory limit of 0 or less taken as none (as
// wasispec reads it, and as OCI's -1 says): written to the cgroup it would
// be EINVAL.
func normalized(res *specs.LinuxResources) *specs.LinuxResources {
	if res == nil {
		return &specs.LinuxResources{}
	}
	if m := res.Memory; m != nil && m.Limit != nil && *m.Limit <= 0 {
		r, mem := *res, *m
		mem.Limit = nil
		r.Memory = &mem
		return &r
	}
	return res
}

// placeInCgroup creates cgroup p (cgroupPath) with res applied and moves
// pid into it. cgroup v1 (what this machine has) and v2 are both handled
// by containerd/cgroups. The move is the expensive part (spare_linux.go).
func placeInCgroup(pid int, p string, res *specs.LinuxResources) (cgroup, error) {
	cg, err := newCgroup(p, normalized(res))
	if err != nil {
		return nil, err
	}
	if err := cg.add(pid); err != nil {
		cg.Delete()
		return nil, fmt.Errorf("cgroup %s: add worker: %w", p, err)
	}
	return cg, nil
}

// newCgroup creates cgroup p with res applied, and no process in it.
func newCgroup(p string, res *specs.LinuxResources) (cgroup, error) {
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.NewManager(unifiedRoot, p, cgroup2.ToResources(res))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
		return cgroupV2{Manager: m, path: p}, nil
	}
	c, err := cgroup1.New(cgroup1.StaticPath(p), res, cgroup1.WithHierarchy(hierarchies))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p, err)
	}
	return cgroupV1{Cgroup: c, path: p}, nil
}

// loadCgroup is the existing cgroup p, whose memory limits get allowance
// added.
func loadCgroup(p string, allowance uint64) (cgroup, error) {
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.Load(p, cgroup2.WithMountpoint(unifiedRoot))
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", p, err)
		}
		return cgroupV2{Manager: m, path: p, allowance: allowance}, nil
	}
	c, err := cgroup1.Load(cgroup1.StaticPath(p), cgroup1.WithHierarchy(hierarchies))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p, err)
	}
	return cgroupV1{Cgroup: c, path: p, allowance: allowance}, nil
}

// unifiedRoot is where cgroup v2 is mounted.
const unifiedRoot = "/sys/fs/cgroup"

// cgroupDirs are cgroup p's directories: one under cgroup v2, one per
// limiting hierarchy under v1; usage is its memory usage file
// (memory.current, memory.usage_in_bytes), "" without a memory hierarchy.
func cgroupDirs(p string) (dirs []string, usage string, err error) {
	if cgroups.Mode() == cgroups.Unified {
		d := filepath.Join(unifiedRoot, p)
		return []string{d}, filepath.Join(d, "memory.current"), nil
	}
	subs, err := hierarchies()
	if err != nil {
		return nil, "", err
	}
	for _, s := range subs {
		ps, ok := s.(interface{ Path(string) string })
		if !ok {
			return nil, "", fmt.Errorf("cgroup v1 hierarchy %s has no path", s.Name())
		}
		d := ps.Path(p)
		dirs = append(dirs, d)
		if s.Name() == cgroup1.Memory {
			usage = filepath.Join(d, "memory.usage_in_bytes")
		}
	}
	return dirs, usage, nil
}

// hierarchies is limitingSubsystems, read from the mount table once: the
// host's cgroup v1 mounts do not change under a running daemon, and
// reading them (containerd/cgroups parses /proc/self/mountinfo) was a good
// part of each placement and removal.
var hierarchies = sync.OnceValues(limitingSubsystems)

// removeCgroup removes cgroup p's directories. The kernel refuses (EBUSY)
// while a process is still in it, for a moment after the last one was
// reaped; that is retried for up to about 100 ms.
func removeCgroup(p string) error {
	dirs, _, err := cgroupDirs(p)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		err := os.Remove(d)
		for delay := time.Millisecond; errors.Is(err, unix.EBUSY) && delay < 64*time.Millisecond; delay *= 2 {
			time.Sleep(delay)
			err = os.Remove(d)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
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
