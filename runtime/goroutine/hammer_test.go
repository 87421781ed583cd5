package goroutine

import (
	"os"
	"strconv"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
)

// TestHammer: task lifecycles in one service, 8 at a time; no goroutine,
// descriptor or mount is left behind (skipped under -short).
// HAMMER_GOROUTINE_N sets how many (default 10,000).
func TestHammer(t *testing.T) {
	if testing.Short() {
		t.Skip("hammer: 10,000 lifecycles; run without -short")
	}
	n := 10000
	if v := os.Getenv("HAMMER_GOROUTINE_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("HAMMER_GOROUTINE_N=%q: %v", v, err)
		}
	}
	if got := tasktest.Hammer(t, newRuntime(t, WithCompilationCache(compiled)), n, 8, nil); got != n {
		t.Fatalf("%d lifecycles ran, want %d", got, n)
	}
}
