// Package testutil holds helpers shared by the project's tests, after
// containerd's pkg/testutil.
package testutil

import (
	"os"
	"testing"
)

// IsRoot reports whether the tests run as root.
func IsRoot() bool { return os.Geteuid() == 0 }

// RequiresRoot skips a test that needs root (namespaces, mounts, cgroups),
// saying why, when the tests do not run as root.
func RequiresRoot(t testing.TB, why string) {
	t.Helper()
	if !IsRoot() {
		t.Skipf("requires root: %s", why)
	}
}
