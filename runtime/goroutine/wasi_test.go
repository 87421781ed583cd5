package goroutine

import (
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/wasidiff"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
)

// TestWASIDifferential runs the WASI guest through the task API on the
// goroutine runtime and compares everything with wazero's own host
// (internal/testing/wasidiff; differences: docs/conformance.md).
func TestWASIDifferential(t *testing.T) {
	wasidiff.Run(t, "goroutine", func(t *testing.T) runtime.Runtime { return newRuntime(t, WithCompilationCache(compiled)) })
}
