//go:build integration

package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// cacheEntries lists the compiled-code files wazero keeps under the
// daemon's compile cache.
func cacheEntries(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(shared.dir, "sandboxer", "compile-cache", "wazero-*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	var out []string
	for _, f := range files {
		if hex.MatchString(filepath.Base(f)) {
			out = append(out, f)
		}
	}
	return out
}

// TestCorruptCacheEntryIsRecompiled: compiled code on disk whose bytes were
// changed is never trusted: after a daemon restart the module is compiled
// again and runs correctly, and the bad entry is replaced.
func TestCorruptCacheEntryIsRecompiled(t *testing.T) {
	p := runPod(t)
	if st, _ := runToExit(t, p, container{image: demoImage, args: []string{"echo", "warm"}}); st.ExitCode != 0 {
		t.Fatalf("warm-up exit %d", st.ExitCode)
	}
	restartSandboxer(t, "TERM", p.id) // a clean stop records every entry
	entries := cacheEntries(t)
	if len(entries) == 0 {
		t.Fatal("no compiled code on disk after running the demo module")
	}
	corrupted := map[string][]byte{}
	for _, f := range entries {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 3; i < len(b)/3+64 && i < len(b); i++ {
			b[i] ^= 0xff
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		corrupted[f] = b
	}
	restartSandboxer(t, "TERM", p.id)

	st, lines := runToExit(t, p, container{image: demoImage, args: []string{"echo", "after", "corruption"}})
	if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"after corruption"}) {
		t.Fatalf("module after a corrupted cache entry: exit %d, log %q", st.ExitCode, lines)
	}
	for f, bad := range corrupted {
		if b, err := os.ReadFile(f); err == nil && bytes.Equal(b, bad) {
			t.Errorf("corrupted entry %s is still on disk unchanged", filepath.Base(f))
		}
	}
}
