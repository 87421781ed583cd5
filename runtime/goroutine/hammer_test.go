package goroutine

import (
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
)

// TestHammer: 10,000 task lifecycles in one service, 8 at a time; no
// goroutine, descriptor or mount is left behind (skipped under -short).
func TestHammer(t *testing.T) {
	if testing.Short() {
		t.Skip("hammer: 10,000 lifecycles; run without -short")
	}
	if n := tasktest.Hammer(t, newRuntime(t, WithCompilationCache(compiled)), 10000, 8, nil); n != 10000 {
		t.Fatalf("%d lifecycles ran, want 10000", n)
	}
}
