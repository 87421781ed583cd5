package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasm-sandboxer/wasm-sandboxer/inprocess"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/fifos"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
)

// rowCeiling is figure 3's ceiling: containerd driving a sandboxer whose
// tasks run nothing, so a throughput row reads as a share of what
// containerd itself allows on this machine.
const rowCeiling = "ceiling: containerd alone"

// ceilingSandboxer is the proxy_plugins name of the ceiling's controller.
const ceilingSandboxer = "ceiling"

var modeCeiling = mode{rowCeiling, ceilingSandboxer, wasmRuntime}

// ceiling is a Sandbox Controller served by a process of the benchmark's
// own (wasm-bench re-executed with ceilingArg), as the daemon serves its
// own (sandboxer/, inprocess), on a runtime whose modules end as soon as
// they start: what is left of a task's cost is containerd's, the task
// API's and the runtime binary's. A process of its own, as the daemon is,
// so it does not share the driver's CPU time.
type ceiling struct {
	cmd  *exec.Cmd
	ctrl sandboxapi.ControllerClient
}

// ceilingArg makes wasm-bench serve the ceiling's controller (serveCeiling).
const ceilingArg = "-serve-ceiling"

// startCeiling starts the ceiling's controller on dir/ceiling.sock.
func startCeiling(ctx context.Context, dir string) (*ceiling, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, ceilingArg, dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ceilingSocket(dir)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("ceiling controller did not listen on %s", ceilingSocket(dir))
		}
	}
	conn, err := grpc.NewClient("unix://"+ceilingSocket(dir), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	return &ceiling{cmd: cmd, ctrl: sandboxapi.NewControllerClient(conn)}, nil
}

func (c *ceiling) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.cmd.Wait()
}

// serveCeiling is the ceiling process: it serves until SIGTERM.
func serveCeiling(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctrl, err := sandboxer.New(ctx, sandboxer.Config{StateDir: filepath.Join(dir, "ceiling"),
		Hosts: map[sandboxer.Mode]sandboxer.Hosting{sandboxer.ModeGoroutine: inprocess.Hosting{Runtime: nothing{}, Publisher: discardEvents{}}}})
	if err != nil {
		return err
	}
	ln, err := net.Listen("unix", ceilingSocket(dir))
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	sandboxapi.RegisterControllerServer(srv, ctrl)
	go func() { <-ctx.Done(); srv.Stop() }()
	return srv.Serve(ln)
}

func ceilingSocket(dir string) string { return filepath.Join(dir, "ceiling.sock") }

type discardEvents struct{}

func (discardEvents) Publish(context.Context, any) {}

// nothing is a runtime whose processes exit 0 as they start; they open and
// close the task's stdio as any runtime must, so containerd's readers end.
type nothing struct{}

func (nothing) Prepare(ctx context.Context, spec runtime.ProcessSpec) (runtime.Process, error) {
	ios, err := fifos.Open(ctx, spec.Stdin, spec.Stdout, spec.Stderr)
	if err != nil {
		return nil, err
	}
	return &nothingProcess{ios: ios, done: make(chan struct{})}, nil
}

type nothingProcess struct {
	ios  *stdio.Set
	once sync.Once
	done chan struct{}
	exit runtime.Exit
}

func (p *nothingProcess) end(code uint32) {
	p.once.Do(func() {
		p.exit = runtime.Exit{Code: code, At: time.Now()}
		p.ios.Close()
		close(p.done)
	})
}

func (p *nothingProcess) Start(context.Context) error { p.end(0); return nil }
func (p *nothingProcess) Kill(_ context.Context, sig syscall.Signal) error {
	p.end(128 + uint32(sig))
	return nil
}
func (p *nothingProcess) Done() <-chan struct{} { return p.done }
func (p *nothingProcess) Exit() runtime.Exit    { <-p.done; return p.exit }
func (p *nothingProcess) Pid() int              { return os.Getpid() }
func (p *nothingProcess) CloseStdin() error     { return p.ios.CloseStdin() }
func (p *nothingProcess) Close() error          { p.end(137); return nil }

// ceilingConfig registers the ceiling's controller with containerd.
func ceilingConfig(dir string) string {
	return fmt.Sprintf("\n[proxy_plugins.%s]\n  type = \"sandbox\"\n  address = %q\n", ceilingSandboxer, ceilingSocket(dir))
}
