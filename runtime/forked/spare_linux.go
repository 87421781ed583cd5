package forked

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spare cgroups take the cost of joining a cgroup off a task's start.
//
// Moving a process into a cgroup (a write to cgroup.procs) takes the
// kernel's global cgroup_threadgroup_rwsem for writing, which waits for an
// RCU grace period unless the hierarchy is mounted with favordynmods: 9–15
// ms on the 2-core test VM, the largest part of a forked start
// (docs/RATIONALE.md, "Why do idle workers wait in a spare cgroup?").
// Renaming a cgroup directory costs microseconds and keeps the processes
// in it. So an idle worker of the pool is moved, while idle, into a spare
// cgroup of its own next to where the runtime's last container cgroup was
// (the pod's cgroup, under CRI), and a task that wants a cgroup there gets
// the spare renamed to its cgroup's name.

// sparePrefix names spare cgroups: wasm-spare-<pid of the runtime>-<n>.
const sparePrefix = "wasm-spare-"

// errNotHere says a spare is not in the wanted cgroup's parent.
var errNotHere = errors.New("spare cgroup is elsewhere")

// spareParentOf is a configured cgroup parent as a spare parent (a
// cgroupPath): "" when there is none, or when it is systemd-style (a slice,
// or slice:prefix:name), which this runtime does not place workers under.
func spareParentOf(parent string) string {
	if parent == "" || strings.HasSuffix(path.Base(parent), ".slice") {
		return ""
	}
	p, err := cgroupPath(parent, "", "")
	if err != nil {
		return ""
	}
	return p
}

// makeSpare creates spare cgroup name under parent, without limits, and
// moves pid into it; it returns the spare's path.
func makeSpare(parent, name string, pid int) (string, error) {
	p := path.Join(parent, sparePrefix+name)
	cg, err := newCgroup(p, &specs.LinuxResources{})
	if err != nil {
		return "", err
	}
	if err := cg.add(pid); err != nil {
		removeCgroup(p)
		return "", fmt.Errorf("spare cgroup %s: add worker: %w", p, err)
	}
	return p, nil
}

// claimSpare renames spare cgroup spare to target, a sibling, and applies
// res there. The memory the worker charged to the spare (its setup of the
// task: the module's machine code, its instance) is allowed on top of the
// memory limit, as it would have been charged elsewhere had the worker
// joined its cgroup by a move after setting up. errNotHere when target is
// not in spare's parent; the spare is left as it was on any error before
// the rename.
func claimSpare(spare, target string, res *specs.LinuxResources) (cgroup, error) {
	if path.Dir(spare) != path.Dir(target) {
		return nil, errNotHere
	}
	from, _, err := cgroupDirs(spare)
	if err != nil {
		return nil, err
	}
	to, usage, err := cgroupDirs(target)
	if err != nil {
		return nil, err
	}
	for i := range from {
		if err := os.Rename(from[i], to[i]); err != nil {
			for j := i - 1; j >= 0; j-- {
				os.Rename(to[j], from[j])
			}
			return nil, fmt.Errorf("rename spare cgroup %s to %s: %w", spare, target, err)
		}
	}
	charged, err := memoryCharged(usage)
	if err != nil {
		return nil, err
	}
	cg, err := loadCgroup(target, charged)
	if err != nil {
		return nil, err
	}
	if err := cg.update(normalized(res)); err != nil {
		return cg, fmt.Errorf("cgroup %s: %w", target, err)
	}
	return cg, nil
}

// memoryCharged reads the memory charged to a cgroup from its usage file
// (cgroupDirs); 0 without a memory hierarchy, or (v2) with the memory
// controller not enabled for it.
func memoryCharged(usage string) (uint64, error) {
	if usage == "" {
		return 0, nil
	}
	b, err := os.ReadFile(usage)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}
