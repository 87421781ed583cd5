package wasidiff

import (
	"strings"
	"testing"
)

// TestCoverage: the guest calls every function wazero's
// wasi_snapshot_preview1 exports at least once (in the reference run, so
// the count does not depend on a runtime).
func TestCoverage(t *testing.T) {
	fx := NewFixture(t, Guest(t))
	res, calls := Reference(t, fx, Args("all"))
	if res.Code != ExitCode {
		t.Fatalf("reference exit %d, want %d; stderr %q", res.Code, ExitCode, res.Stderr)
	}
	called := calls.Called()
	exported := Exported(t)
	var missing []string
	for _, name := range exported {
		if !called[name] {
			missing = append(missing, name)
		}
	}
	t.Logf("wasi_snapshot_preview1: the guest calls %d of the %d functions wazero exports", len(exported)-len(missing), len(exported))
	if len(missing) > 0 {
		t.Errorf("not called: %s", strings.Join(missing, ", "))
	}
	if testing.Verbose() {
		t.Logf("reference stdout:\n%s", res.Stdout)
	}
}

// TestTable: every row of docs/conformance.md's table names a runtime.
func TestTable(t *testing.T) {
	for _, d := range Table(t) {
		switch d.Runtimes {
		case "both", "goroutine", "forked":
		default:
			t.Errorf("%s: runtimes %q, want both, goroutine or forked", d.Key, d.Runtimes)
		}
		if d.Why == "" {
			t.Errorf("%s: no reason", d.Key)
		}
	}
}
