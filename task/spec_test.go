package task

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// TestConfigJSONNotAFile: a config.json that is a fifo (or a directory)
// is refused at once. The fifo used to block Create forever in open(2),
// holding the task id reserved.
func TestConfigJSONNotAFile(t *testing.T) {
	for name, mk := range map[string]func(string) error{
		"fifo":      func(p string) error { return syscall.Mkfifo(p, 0o600) },
		"directory": func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		bundle := t.TempDir()
		if err := mk(filepath.Join(bundle, "config.json")); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := readSpec(bundle); done <- err }()
		select {
		case err := <-done:
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%s: %v, want InvalidArgument", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: readSpec still blocked after 10s", name)
		}
	}
}
