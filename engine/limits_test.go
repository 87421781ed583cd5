package engine

import (
	"testing"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// TestHugeLocalsRefused: a 30-byte module declaring 2^32-1 locals is
// refused before wazero sees it (wazero 1.12 allocated 4 GiB for it and
// the process died of a fatal out-of-memory error).
func TestHugeLocalsRefused(t *testing.T) {
	err := CheckBinary("hugelocals.wasm", tiny.Hostile()["hugelocals.wasm"])
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("hugelocals.wasm: %v, want InvalidArgument", err)
	}
	for name, bin := range tiny.Modules() {
		if err := CheckBinary(name, bin); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Truncated and garbled modules are left to wazero's decoder.
	for name, bin := range tiny.Hostile() {
		if name == "hugelocals.wasm" {
			continue
		}
		for n := 8; n <= len(bin); n++ {
			if err := checkLocals(name, bin[:n]); err != nil {
				t.Errorf("%s cut at %d: %v", name, n, err)
			}
		}
	}
}
