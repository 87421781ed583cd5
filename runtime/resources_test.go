package runtime

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestChangedResources(t *testing.T) {
	l1, l2 := int64(1<<20), int64(2<<20)
	shares := uint64(512)
	weight := uint16(10)
	for _, tc := range []struct {
		name     string
		old, new *specs.LinuxResources
		want     []string
	}{
		{"both nil", nil, nil, nil},
		{"empty sections equal nil", nil, &specs.LinuxResources{Memory: &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}, Devices: []specs.LinuxDeviceCgroup{}}, nil},
		{"same limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l1}}, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l1}}, nil},
		{"memory limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l1}}, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l2}}, []string{"memory.limit"}},
		{"cpu shares and blkio", nil, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}, BlockIO: &specs.LinuxBlockIO{Weight: &weight}}, []string{"cpu.shares", "blockIO"}},
	} {
		if got := ChangedResources(tc.old, tc.new); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	err := RefuseChanges(nil, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &l1}, CPU: &specs.LinuxCPU{Shares: &shares}}, "why", "memory.limit")
	if err == nil || err.Error() != "linux.resources cpu.shares cannot be updated: why: not implemented" {
		t.Errorf("RefuseChanges: %v", err)
	}
}
