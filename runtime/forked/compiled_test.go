package forked

import (
	"context"
	"errors"
	"testing"
)

type countingCompiler struct{ calls int }

func (c *countingCompiler) Compile(_ context.Context, digest, _ string, _ []byte, _ uint32) error {
	c.calls++
	if digest == "bad" {
		return errors.New("invalid WebAssembly")
	}
	return nil
}

func TestRememberedCompilesOnce(t *testing.T) {
	inner := &countingCompiler{}
	c := Remembered(inner)
	for range 3 {
		if err := c.Compile(context.Background(), "sha256:a", "a", nil, 16); err != nil {
			t.Fatal(err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("%d compiles of one module, want 1", inner.calls)
	}
	// Another limit is checked again (a module may not fit a smaller one).
	if err := c.Compile(context.Background(), "sha256:a", "a", nil, 1); err != nil || inner.calls != 2 {
		t.Fatalf("other limit: %v, %d compiles", err, inner.calls)
	}
	// A failure is not remembered: it is reported every time.
	for range 2 {
		if err := c.Compile(context.Background(), "bad", "b", nil, 16); err == nil {
			t.Fatal("a bad module compiled")
		}
	}
	if inner.calls != 4 {
		t.Fatalf("%d compiles, want failures retried", inner.calls)
	}
}
