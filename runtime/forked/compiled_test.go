package forked

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

type countingCompiler struct{ calls int }

func (c *countingCompiler) Compile(_ context.Context, digest, _ string, _ []byte, _ uint32) error {
	c.calls++
	if digest == "bad" || digest == "sha256:bad" {
		return errors.New("invalid WebAssembly")
	}
	return nil
}

func TestRememberedCompilesOnce(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		inner := &countingCompiler{}
		c := Remembered(inner, dir)
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
			if err := c.Compile(context.Background(), "sha256:bad", "b", nil, 16); err == nil {
				t.Fatal("a bad module compiled")
			}
		}
		if inner.calls != 4 {
			t.Fatalf("%d compiles, want failures retried", inner.calls)
		}
	}
}

// TestRememberedAcrossPods: compilers sharing a dir (pod servers) compile a
// module once between them; a failure leaves nothing; a digest that is not
// a plain name is not looked up there.
func TestRememberedAcrossPods(t *testing.T) {
	dir := t.TempDir()
	first, second := &countingCompiler{}, &countingCompiler{}
	if err := Remembered(first, dir).Compile(context.Background(), "sha256:a", "a", nil, 16); err != nil {
		t.Fatal(err)
	}
	memo := Remembered(second, dir)
	if err := memo.Compile(context.Background(), "sha256:a", "a", nil, 16); err != nil || second.calls != 0 || memo.Hits() != 1 {
		t.Fatalf("second pod: %v, %d compiles, %d hits; want the first pod's compile remembered, a hit", err, second.calls, memo.Hits())
	}
	if err := Remembered(second, dir).Compile(context.Background(), "sha256:a", "a", nil, 8); err != nil || second.calls != 1 {
		t.Fatalf("another limit: %v, %d compiles; want a compile", err, second.calls)
	}
	Remembered(first, dir).Compile(context.Background(), "sha256:bad", "b", nil, 16)
	if _, err := os.Stat(filepath.Join(dir, "sha256:bad-16")); !os.IsNotExist(err) {
		t.Fatalf("a failed compile was noted (%v)", err)
	}
	third := &countingCompiler{}
	for range 2 {
		Remembered(third, dir).Compile(context.Background(), "../../etc/passwd", "x", nil, 16)
	}
	if third.calls != 2 {
		t.Fatalf("%d compiles of a digest with a path in it, want 2 (never noted in dir)", third.calls)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("dir holds %d notes, want 2 (sha256:a at 16 and 8 pages)", len(ents))
	}
}
