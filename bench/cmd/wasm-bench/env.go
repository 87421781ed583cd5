package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
)

// Row names, shared by the figures and the targets.
const (
	rowGoroutine  = "goroutine"
	rowBridge     = "goroutine, ctr bridge"
	rowForkedWarm = "forked warm pool"
	rowForkedCold = "forked no pool"
	rowRunc       = "runc"
	rowFloor      = "floor: bare wazero"
)

const (
	wasmRuntime = "io.containerd.wasm.v1"
	runcRuntime = "io.containerd.runc.v2"
	namespace   = "bench"
)

// Images, as hack/images.sh and hack/bench-images.sh name them.
const (
	imgHello  = "docker.io/library/wasm-hello:latest"
	imgDemo   = "docker.io/library/wasm-demo:latest"
	imgNative = "docker.io/library/bench-native:latest"
	imgPause  = "docker.io/library/bench-pause:latest"
)

// containerdConfig is appended to the dev environment's containerd config
// at its start: CRI's runc pods get the pause image built from hack/pause.
const containerdConfig = `
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "` + imgPause + `"
`

// runner holds one run: the dev environment, its clients, the pods.
type runner struct {
	top, out string
	sz       sizes
	res      *bench.Results
	only     map[int]bool

	dir     string // hack/devenv.sh's directory
	poolOff bool   // the daemon runs with --worker-pool-size 0
	client  *containerd.Client
	mu      sync.Mutex
	clients map[string]*containerd.Client // by default sandboxer
	images  map[string]containerd.Image
	pods    []*pod
	ctrl    sandboxapi.ControllerClient
	ceiling *ceiling // figure 3's ceiling, a controller of the benchmark's own
}

// mode is how a row runs its containers through containerd.
type mode struct {
	row       string
	sandboxer string // a wasm-sandboxer proxy plugin; "" for runc and the ctr bridge
	runtime   string
}

var (
	modeGoroutine  = mode{rowGoroutine, "wasm", wasmRuntime}
	modeBridge     = mode{rowBridge, "", wasmRuntime}
	modeForkedWarm = mode{rowForkedWarm, "wasm-forked", wasmRuntime}
	modeForkedCold = mode{rowForkedCold, "wasm-forked", wasmRuntime}
	modeRunc       = mode{rowRunc, "", runcRuntime}
)

// program is the image and arguments of the same program in a mode:
// the Wasm module, or its native build for runc.
func (m mode) program(sub ...string) (string, []string) {
	switch {
	case m.runtime == runcRuntime:
		return imgNative, append([]string{"/demo"}, sub...)
	case len(sub) == 0:
		return imgHello, []string{"/hello.wasm"} // the small module
	default:
		return imgDemo, append([]string{"/demo.wasm"}, sub...)
	}
}

func (r *runner) want(fig int) bool { return r.only == nil || r.only[fig] }

// devenv runs hack/devenv.sh with the run's settings.
func (r *runner) devenv(args ...string) error {
	cmd := exec.Command(filepath.Join(r.top, "hack", "devenv.sh"), args...)
	cmd.Env = append(os.Environ(), "SANDBOXER_LOG_LEVEL=warn", "CONTAINERD_LOG_LEVEL=warn",
		"WASM_SANDBOXER_BIN="+filepath.Join(r.out, "bin"))
	if args[0] == "start" {
		cmd.Env = append(cmd.Env, "DEVENV_CONTAINERD_CONFIG="+r.configFile())
	}
	if r.poolOff {
		cmd.Env = append(cmd.Env, "SANDBOXER_FLAGS=--worker-pool-size 0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("devenv %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// start brings up containerd + wasm-sandboxer and imports the images.
func (r *runner) start(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "wasm-bench.")
	if err != nil {
		return err
	}
	r.dir = dir
	if r.ceiling, err = startCeiling(ctx, dir); err != nil {
		return fmt.Errorf("ceiling controller: %w", err)
	}
	if err := os.WriteFile(r.configFile(), []byte(containerdConfig+ceilingConfig(dir)), 0o644); err != nil {
		return err
	}
	if err := r.devenv("start", dir); err != nil {
		return err
	}
	if r.client, err = containerd.New(r.sock(), containerd.WithDefaultNamespace(namespace)); err != nil {
		return err
	}
	r.clients = map[string]*containerd.Client{}
	r.images = map[string]containerd.Image{}
	for _, img := range []struct{ file, ns string }{
		{"wasm-hello", namespace}, {"wasm-demo", namespace}, {"bench-native", namespace},
		{"wasm-demo", "k8s.io"}, {"bench-native", "k8s.io"}, {"bench-pause", "k8s.io"}, {"wasm-httpd", "k8s.io"},
	} {
		b, err := exec.CommandContext(ctx, filepath.Join(r.out, "bin", "ctr"), "--address", r.sock(), "-n", img.ns,
			"images", "import", filepath.Join(r.out, "images", img.file+".tar")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("import %s (make images bench-images): %v\n%s", img.file, err, b)
		}
	}
	for _, name := range []string{imgHello, imgDemo, imgNative} {
		if r.images[name], err = r.client.GetImage(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) sock() string { return filepath.Join(r.dir, "containerd.sock") }

// configFile is where containerdConfig is written for devenv start;
// devenv stop removes it with the rest of the directory.
func (r *runner) configFile() string { return filepath.Join(r.dir, "bench-containerd.toml") }

// stop shuts the pods down and the dev environment with them.
func (r *runner) stop() {
	if r.dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r.shutdownPods(ctx)
	for _, c := range r.clients {
		c.Close()
	}
	if r.client != nil {
		r.client.Close()
	}
	if err := r.devenv("stop", r.dir); err != nil {
		logf("%v", err)
	}
	if r.ceiling != nil {
		r.ceiling.stop()
	}
}

// restartSandboxer restarts the daemon (SIGTERM), e.g. with another pool
// size; the pods persist, their modules end.
func (r *runner) restartSandboxer(poolOff bool) error {
	r.poolOff = poolOff
	return r.devenv("restart-sandboxer", r.dir, "TERM")
}

// pod is a sandbox of the daemon made through containerd's sandbox API,
// as CRI makes one, without CRI: its tasks go straight to the daemon.
type pod struct {
	sb      containerd.Sandbox
	address string
	version uint32
}

// controller is a client of the daemon's Controller API.
func (r *runner) controller() sandboxapi.ControllerClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctrl == nil {
		conn, err := grpc.NewClient("unix://"+filepath.Join(r.dir, "sandboxer.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			panic(err) // only a malformed target fails here
		}
		r.ctrl = sandboxapi.NewControllerClient(conn)
	}
	return r.ctrl
}

func (r *runner) sandboxClient(sandboxer string) (*containerd.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[sandboxer]; ok {
		return c, nil
	}
	c, err := containerd.New(r.sock(), containerd.WithDefaultNamespace(namespace), containerd.WithDefaultSandboxer(sandboxer))
	if err != nil {
		return nil, err
	}
	r.clients[sandboxer] = c
	return c, nil
}

// newPod creates and starts a sandbox of m's sandboxer; nil for modes
// without one.
func (r *runner) newPod(ctx context.Context, m mode, id string) (*pod, error) {
	if m.sandboxer == "" {
		return nil, nil
	}
	c, err := r.sandboxClient(m.sandboxer)
	if err != nil {
		return nil, err
	}
	sb, err := c.NewSandbox(ctx, id, containerd.WithSandboxRuntime(wasmRuntime, nil))
	if err != nil {
		return nil, fmt.Errorf("sandbox %s: %w", id, err)
	}
	if _, err := c.SandboxController(m.sandboxer).Start(ctx, id); err != nil {
		sb.Shutdown(ctx)
		return nil, fmt.Errorf("start sandbox %s: %w", id, err)
	}
	// containerd's sandbox service (v2.4.2) leaves the task address out of
	// its Start and Status answers; CRI gets it in process. Ask the daemon.
	var st *sandboxapi.ControllerStatusResponse
	if m.sandboxer == ceilingSandboxer {
		st, err = r.ceiling.ctrl.Status(ctx, &sandboxapi.ControllerStatusRequest{SandboxID: id})
	} else {
		st, err = r.controller().Status(ctx, &sandboxapi.ControllerStatusRequest{SandboxID: id})
	}
	if err != nil {
		sb.Shutdown(ctx)
		return nil, fmt.Errorf("status of sandbox %s: %w", id, err)
	}
	p := &pod{sb: sb, address: st.Address, version: st.Version}
	r.mu.Lock()
	r.pods = append(r.pods, p)
	r.mu.Unlock()
	return p, nil
}

func (r *runner) shutdownPods(ctx context.Context) {
	r.mu.Lock()
	pods := r.pods
	r.pods = nil
	r.mu.Unlock()
	for _, p := range pods {
		if err := p.sb.Shutdown(ctx); err != nil {
			logf("shutdown sandbox %s: %v", p.sb.ID(), err)
		}
	}
}

// container is a started container of a mode.
type container struct {
	c    containerd.Container
	task containerd.Task
	exit <-chan containerd.ExitStatus
}

// startContainer creates a container (in p when set) and starts its task,
// stdout to w.
func (r *runner) startContainer(ctx context.Context, m mode, p *pod, id string, w io.Writer, sub ...string) (*container, error) {
	return r.startTimed(ctx, m, p, id, w, nil, sub...)
}

// startTimed is startContainer, marking each step on st when it is set.
func (r *runner) startTimed(ctx context.Context, m mode, p *pod, id string, w io.Writer, st *steps, sub ...string) (*container, error) {
	image, args := m.program(sub...)
	img := r.images[image]
	opts := []containerd.NewContainerOpts{containerd.WithImage(img), containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime(m.runtime, nil), containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(args...))}
	var topts []containerd.NewTaskOpts
	if p != nil {
		opts = append(opts, containerd.WithSandbox(p.sb.ID()))
		topts = append(topts, containerd.WithTaskAPIEndpoint(p.address, p.version))
	}
	c, err := r.client.NewContainer(ctx, id, opts...)
	if err != nil {
		return nil, fmt.Errorf("container: %w", err)
	}
	st.mark(stepContainer)
	t, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, w, io.Discard), cio.WithFIFODir(filepath.Join(r.dir, "fifo"))), topts...)
	if err != nil {
		c.Delete(ctx, containerd.WithSnapshotCleanup)
		return nil, fmt.Errorf("task: %w", err)
	}
	st.mark(stepTask)
	ct := &container{c: c, task: t}
	if ct.exit, err = t.Wait(ctx); err == nil {
		err = t.Start(ctx)
	}
	st.mark(stepStart)
	if err != nil {
		ct.remove(ctx, true)
		return nil, fmt.Errorf("start: %w", err)
	}
	return ct, nil
}

// wait waits for the task's exit and checks it is 0.
func (ct *container) wait() error {
	code, _, err := (<-ct.exit).Result()
	if err == nil && code != 0 {
		err = fmt.Errorf("exit status %d", code)
	}
	return err
}

// remove deletes the task (killing it first when kill is set) and the
// container with its snapshot.
func (ct *container) remove(ctx context.Context, kill bool) error {
	return ct.removeTimed(ctx, kill, nil)
}

func (ct *container) removeTimed(ctx context.Context, kill bool, st *steps) error {
	var errs []error
	if kill {
		ct.task.Kill(ctx, 9)
		<-ct.exit
	}
	if st != nil {
		if io := ct.task.IO(); io != nil {
			io.Wait()
		}
		st.mark(stepStdout)
	}
	if _, err := ct.task.Delete(ctx); err != nil {
		errs = append(errs, err)
	}
	st.mark(stepTaskDelete)
	if err := ct.c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		errs = append(errs, err)
	}
	st.mark(stepContainerDelete)
	return errors.Join(errs...)
}

// runOnce is figure 1's unit: create the container and its task, start,
// wait for the exit, delete both.
func (r *runner) runOnce(ctx context.Context, m mode, p *pod, id string, w io.Writer, sub ...string) error {
	return r.runTimed(ctx, m, p, id, w, nil, sub...)
}

// runTimed is runOnce, marking each step on st when it is set.
func (r *runner) runTimed(ctx context.Context, m mode, p *pod, id string, w io.Writer, st *steps, sub ...string) error {
	st.begin()
	ct, err := r.startTimed(ctx, m, p, id, w, st, sub...)
	if err != nil {
		return err
	}
	werr := ct.wait()
	st.mark(stepExit)
	return errors.Join(werr, ct.removeTimed(ctx, false, st))
}
