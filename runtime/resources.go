package runtime

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
	fieldsOf("memory", old.Memory, new.Memory, add)
	fieldsOf("cpu", old.CPU, new.CPU, add)
	add("pids.limit", old.Pids, new.Pids)
	add("blockIO", old.BlockIO, new.BlockIO)
	add("hugepageLimits", emptyNil(old.HugepageLimits), emptyNil(new.HugepageLimits))
	add("devices", emptyNil(old.Devices), emptyNil(new.Devices))
	add("network", old.Network, new.Network)
	add("rdma", old.Rdma, new.Rdma)
	add("unified", emptyNilMap(old.Unified), emptyNilMap(new.Unified))
	return out
}

// fieldsOf compares the fields of two *struct values (nil: all fields
// unset), naming each by section and JSON name ("memory.limit").
func fieldsOf[T any](section string, old, new *T, add func(name string, a, b any)) {
	var zero T
	if old == nil {
		old = &zero
	}
	if new == nil {
		new = &zero
	}
	o, n := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	for i := range o.NumField() {
		name, _, _ := strings.Cut(o.Type().Field(i).Tag.Get("json"), ",")
		add(section+"."+name, o.Field(i).Interface(), n.Field(i).Interface())
	}
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
