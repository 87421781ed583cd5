package forked

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
	"golang.org/x/sys/unix"
)

// worker is a started worker process and its control socket.
type worker struct {
	cmd     *exec.Cmd
	ctrl    *os.File
	dec     *json.Decoder
	jobDir  string
	rootDir string
	// spare is the spare cgroup the idle worker waits in, if any.
	spare string
}

// discard ends a worker that has no job, or whose job failed to start.
func (w *worker) discard() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
	w.cleanup()
}

// cleanup removes what a worker that has exited leaves.
func (w *worker) cleanup() {
	w.ctrl.Close()
	os.RemoveAll(w.jobDir)
	os.RemoveAll(w.rootDir)
	if w.spare != "" {
		removeCgroup(w.spare)
	}
}

// start starts a worker in the runtime's network namespace and waits until
// it has confined itself.
func (r *Runtime) start() (_ *worker, retErr error) {
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("%d-%d", os.Getpid(), r.seq)
	r.mu.Unlock()
	w := &worker{jobDir: filepath.Join(r.jobsDir, name), rootDir: filepath.Join(r.rootsDir, name)}
	for _, d := range []string{w.jobDir, w.rootDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	defer func() {
		if retErr != nil {
			os.RemoveAll(w.jobDir)
			os.RemoveAll(w.rootDir)
		}
	}()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control")
	cmd, err := startWorker(r.cfg.WorkerBinary, theirs, r.cfg.NetNS)
	// The worker has its own copy now. Ours closed, a worker that dies
	// before it answers is an EOF below, not a wait forever.
	theirs.Close()
	if err != nil {
		ours.Close()
		return nil, err
	}
	w.cmd, w.ctrl, w.dec = cmd, ours, json.NewDecoder(bufio.NewReader(ours))
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
			cmd.Wait()
			ours.Close()
		}
	}()
	if err := json.NewEncoder(ours).Encode(workerproto.Hello{NewRoot: w.rootDir, JobDir: w.jobDir, CacheDir: r.cfg.CacheDir, TestHook: r.testHook}); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	var m workerproto.Message
	if err := w.dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("worker died while confining itself: %w", errdefs.ErrInternal)
	}
	if !m.Idle {
		return nil, fmt.Errorf("worker could not confine itself: %s: %w", m.Error, errdefs.ErrInternal)
	}
	return w, nil
}
