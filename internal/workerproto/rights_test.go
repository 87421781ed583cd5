package workerproto_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
)

// TestSendWithFiles: a job sent with descriptors arrives through a JSON
// decoder over RightsReader with them, in order, after a plain message.
func TestSendWithFiles(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	defer ours.Close()
	defer theirs.Close()
	var files []*os.File
	for _, name := range []string{"a", "b"} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w.WriteString(name)
		w.Close()
		files = append(files, r)
	}
	if err := json.NewEncoder(ours).Encode(workerproto.Message{Idle: true}); err != nil {
		t.Fatal(err)
	}
	job := &workerproto.Job{ID: "j", Listeners: 2}
	if err := workerproto.SendWithFiles(ours, workerproto.Message{Job: job}, files); err != nil {
		t.Fatal(err)
	}
	rr := workerproto.NewRightsReader(theirs)
	dec := json.NewDecoder(rr)
	var m workerproto.Message
	if err := dec.Decode(&m); err != nil || !m.Idle {
		t.Fatalf("first message %+v, %v", m, err)
	}
	if err := dec.Decode(&m); err != nil || m.Job == nil || m.Job.Listeners != 2 {
		t.Fatalf("job message %+v, %v", m, err)
	}
	got, err := rr.Take(2, "listener")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"a", "b"} {
		b := make([]byte, 8)
		n, _ := got[i].Read(b)
		if string(b[:n]) != want {
			t.Errorf("descriptor %d reads %q, want %q", i, b[:n], want)
		}
		got[i].Close()
	}
	if _, err := rr.Take(1, "listener"); err == nil || !strings.Contains(err.Error(), "1 listener expected") {
		t.Errorf("Take past the received: %v", err)
	}
}
