package task

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ChangedResources names the fields of linux.resources that differ between
// old and new ("memory.limit", "cpu.shares", "pids.limit", "devices"…), in
// a fixed order. A runtime's Update refuses the ones it cannot honour.
func ChangedResources(old, new *specs.LinuxResources) []string {
	if old == nil {
		old = &specs.LinuxResources{}
	}
	if new == nil {
		new = &specs.LinuxResources{}
	}
	var out []string
	add := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	var om, nm specs.LinuxMemory
	if old.Memory != nil {
		om = *old.Memory
	}
	if new.Memory != nil {
		nm = *new.Memory
	}
	add("memory.limit", om.Limit, nm.Limit)
	add("memory.reservation", om.Reservation, nm.Reservation)
	add("memory.swap", om.Swap, nm.Swap)
	add("memory.kernel", om.Kernel, nm.Kernel)
	add("memory.kernelTCP", om.KernelTCP, nm.KernelTCP)
	add("memory.swappiness", om.Swappiness, nm.Swappiness)
	add("memory.disableOOMKiller", om.DisableOOMKiller, nm.DisableOOMKiller)
	add("memory.useHierarchy", om.UseHierarchy, nm.UseHierarchy)
	var oc, nc specs.LinuxCPU
	if old.CPU != nil {
		oc = *old.CPU
	}
	if new.CPU != nil {
		nc = *new.CPU
	}
	add("cpu.shares", oc.Shares, nc.Shares)
	add("cpu.quota", oc.Quota, nc.Quota)
	add("cpu.burst", oc.Burst, nc.Burst)
	add("cpu.period", oc.Period, nc.Period)
	add("cpu.realtimeRuntime", oc.RealtimeRuntime, nc.RealtimeRuntime)
	add("cpu.realtimePeriod", oc.RealtimePeriod, nc.RealtimePeriod)
	add("cpu.cpus", oc.Cpus, nc.Cpus)
	add("cpu.mems", oc.Mems, nc.Mems)
	add("cpu.idle", oc.Idle, nc.Idle)
	add("pids.limit", old.Pids, new.Pids)
	add("blockIO", old.BlockIO, new.BlockIO)
	add("hugepageLimits", emptyNil(old.HugepageLimits), emptyNil(new.HugepageLimits))
	add("devices", emptyNil(old.Devices), emptyNil(new.Devices))
	add("network", old.Network, new.Network)
	add("rdma", old.Rdma, new.Rdma)
	add("unified", emptyNilMap(old.Unified), emptyNilMap(new.Unified))
	return out
}

func emptyNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func emptyNilMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// RefuseChanges fails with errdefs.ErrNotImplemented naming every changed
// field not in supported, and why (the runtime's words).
func RefuseChanges(old, new *specs.LinuxResources, why string, supported ...string) error {
	var refused []string
	for _, f := range ChangedResources(old, new) {
		if !slices.Contains(supported, f) {
			refused = append(refused, f)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("linux.resources %s cannot be updated: %s: %w", strings.Join(refused, ", "), why, errdefs.ErrNotImplemented)
}
