package podserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/log"
)

// readyFD is the descriptor a spawned pod server reports on: "ok", or why
// it could not start, then EOF.
// readyEnv names it in the pod server's environment.
const (
	readyFD  = 3
	readyEnv = "WASM_SANDBOXER_READY_FD"
)

// startTimeout bounds a pod server's start (it only opens its runtime and
// socket; workers come up in the background).
const startTimeout = 20 * time.Second

// Spawner starts pod servers.
type Spawner struct {
	// Binary and Args start a pod server; Spawn appends the sandbox id, so
	// ps tells pod servers apart. Name is its argv[0] (what ps shows;
	// default: Binary).
	Binary string
	Name   string
	Args   []string
	// Stderr receives the pod servers' logs (the daemon's own stderr, so
	// they land where the daemon's do). Pod servers ignore SIGPIPE: a
	// reader going away never ends a pod.
	Stderr *os.File
}

// Spawn starts the pod server of cfg (cfg written on its stdin, see
// ReadConfig) and returns a client once it serves cfg.Socket. The pod
// server runs in a session of its own and outlives the daemon: it ends on
// the control API's Shutdown, or on SIGTERM.
func (sp Spawner) Spawn(ctx context.Context, cfg Config) (*Client, error) {
	doc, err := cfg.Encode()
	if err != nil {
		return nil, fmt.Errorf("pod server config: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	socket := cfg.Socket
	cmd := exec.Command(sp.Binary, append(append([]string{}, sp.Args...), cfg.Sandbox)...)
	if sp.Name != "" {
		cmd.Args[0] = sp.Name
	}
	cmd.Stdin = bytes.NewReader(doc)
	cmd.Stdout, cmd.Stderr = sp.Stderr, sp.Stderr
	cmd.ExtraFiles = []*os.File{w} // readyFD
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", readyEnv, readyFD))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start pod server %s: %w", sp.Binary, err)
	}
	w.Close()
	go cmd.Wait() //nolint:errcheck // reaps the pod server whenever it ends
	fail := func(err error) (*Client, error) {
		cmd.Process.Kill()
		return nil, err
	}
	msg, err := readReady(r)
	if err != nil {
		return fail(fmt.Errorf("pod server (pid %d): %w", cmd.Process.Pid, err))
	}
	if msg != "ok" {
		return fail(fmt.Errorf("pod server (pid %d) could not start: %s", cmd.Process.Pid, msg))
	}
	cl, err := Dial(ctx, socket)
	if err != nil {
		return fail(err)
	}
	log.G(ctx).WithFields(log.Fields{"pid": cmd.Process.Pid, "socket": socket}).Debug("pod server started")
	return cl, nil
}

// readReady reads the pod server's report, at most startTimeout.
func readReady(r *os.File) (string, error) {
	if err := r.SetReadDeadline(time.Now().Add(startTimeout)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", fmt.Errorf("not ready within %s", startTimeout)
	}
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("exited before it was ready; see its log")
	}
	return strings.TrimSpace(string(b)), nil
}

// Ready is called by a spawned pod server once it serves (err nil) or when
// it cannot (err says why); the daemon's Spawn returns then. Outside a
// spawn (no report descriptor named in the environment) it does nothing.
func Ready(err error) {
	if os.Getenv(readyEnv) != fmt.Sprint(readyFD) {
		return
	}
	os.Unsetenv(readyEnv)
	f := os.NewFile(readyFD, "ready")
	defer f.Close()
	msg := "ok"
	if err != nil {
		msg = err.Error()
	}
	f.WriteString(msg) //nolint:errcheck // the daemon reads EOF as a failure
}
