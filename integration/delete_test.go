//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cleanupLines waits until containerd has run the runtime binary's delete
// for task id of namespace ns (containerd runs it after every task delete)
// and removed the task's bundle, which it does after logging the outcome;
// it returns containerd's log lines about that cleanup.
func cleanupLines(t *testing.T, ns, id string) []string {
	t.Helper()
	bundle := filepath.Join(shared.dir, "state", "io.containerd.runtime.v2.task", ns, id)
	field := "id=" + id
	var lines []string
	poll(t, "containerd's cleanup after the delete of "+id, func() bool {
		b, err := os.ReadFile(filepath.Join(shared.dir, "containerd.log"))
		if err != nil {
			t.Fatal(err)
		}
		lines = lines[:0]
		ran := false
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "dead shim") && slices.Contains(strings.Fields(l), field) {
				lines = append(lines, l)
				ran = ran || strings.Contains(l, "cleaning up dead shim")
			}
		}
		_, err = os.Stat(bundle)
		return ran && os.IsNotExist(err)
	})
	return lines
}

// TestNormalDeleteNeedsNoCleanup: after a task ends and is deleted, the
// runtime binary's delete containerd runs finds the task's delete record
// and answers it without a cleanup (no warning, no failure), through CRI in
// both runtimes and through ctr.
func TestNormalDeleteNeedsNoCleanup(t *testing.T) {
	check := func(t *testing.T, ns, id string) {
		for _, l := range cleanupLines(t, ns, id) {
			if strings.Contains(l, "warnings while cleaning up") || strings.Contains(l, "failed to delete dead shim") {
				t.Errorf("the runtime binary's delete of a deleted task cleaned up: %s", l)
			}
		}
	}
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.create(t, container{image: helloImage})
		start(t, id)
		if st := waitExited(t, id); st.ExitCode != 0 {
			t.Fatalf("exit code %d", st.ExitCode)
		}
		check(t, "k8s.io", id) // CRI deletes the task when it exits
	})
	t.Run("ctr", func(t *testing.T) {
		id := fmt.Sprintf("ctr-del-%d", seq.Add(1))
		if out, errOut, code := ctrRunID(t, id, "", helloImage); code != 0 {
			t.Fatalf("ctr run: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		check(t, "default", id)
	})
}
