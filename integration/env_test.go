//go:build integration

// Package integration drives a real containerd (built from the go.mod pinned
// module) and wasm-sandboxer over CRI, the way kubelet does.
package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// env is the private containerd + wasm-sandboxer every test shares.
type env struct {
	dir     string
	out     string
	metrics string // the daemon's --metrics-address
	runtime cri.RuntimeServiceClient
	images  cri.ImageServiceClient
}

// testImages are hack/images.sh's archives, imported in every test run.
var testImages = []string{"wasm-hello", "wasm-demo", "wasm-httpd", "wasm-tiny", "wasm-demo-layer", "wasm-demo-artifact", "wasm-two", "wasm-badlayer"}

var (
	shared *env
	seq    atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "integration tests need root: containerd mounts overlay rootfs and creates network namespaces")
		return 1
	}
	e, err := startEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	shared = e
	code := m.Run()
	if code != 0 {
		e.dumpLogs()
	}
	if err := e.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "integration: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func startEnv() (*env, error) {
	out := os.Getenv("WASM_SANDBOXER_OUT")
	if out == "" {
		out = filepath.Join(repoRoot(), "_output")
	}
	dir, err := os.MkdirTemp("", "wasm-it-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, out: out}
	if e.metrics, err = freeAddress(); err != nil {
		return nil, err
	}
	os.Setenv("SANDBOXER_METRICS_ADDRESS", e.metrics) // read by devenv.sh start
	if b, err := e.devenv("start"); err != nil {
		return nil, fmt.Errorf("devenv start: %v\n%s", err, b)
	}
	// k8s.io is CRI's namespace, default is ctr's.
	for _, ns := range []string{"k8s.io", "default"} {
		for _, img := range testImages {
			if _, err := e.ctr(ns, "", "images", "import", filepath.Join(out, "images", img+".tar")); err != nil {
				e.stop()
				return nil, fmt.Errorf("import %s: %v", img, err)
			}
		}
	}
	conn, err := grpc.NewClient("unix://"+e.sock(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.stop()
		return nil, err
	}
	e.runtime = cri.NewRuntimeServiceClient(conn)
	e.images = cri.NewImageServiceClient(conn)
	return e, nil
}

func (e *env) sock() string { return filepath.Join(e.dir, "containerd.sock") }

// devenv runs `hack/devenv.sh VERB DIR ARGS…` on the environment.
func (e *env) devenv(verb string, args ...string) ([]byte, error) {
	return exec.Command(filepath.Join(repoRoot(), "hack", "devenv.sh"), append([]string{verb, e.dir}, args...)...).CombinedOutput()
}

// devenv runs `hack/devenv.sh VERB DIR ARGS…` on the shared environment
// (restart-sandboxer TERM, stop-containerd, …).
func devenv(t *testing.T, verb string, args ...string) {
	t.Helper()
	if out, err := shared.devenv(verb, args...); err != nil {
		t.Fatalf("devenv %s %v: %v\n%s", verb, args, err, out)
	}
}

// ctr runs ctr in namespace ns (k8s.io: CRI's) with stdin as input; it
// returns stdout, and stderr in the error.
func (e *env) ctr(ns, stdin string, args ...string) (string, error) {
	return runCmd(stdin, filepath.Join(e.out, "bin", "ctr"), append([]string{"--address", e.sock(), "-n", ns}, args...)...)
}

func (e *env) stop() error {
	if b, err := e.devenv("stop"); err != nil {
		return fmt.Errorf("%v\n%s", err, b)
	}
	return nil
}

func (e *env) dumpLogs() {
	for _, f := range []string{"sandboxer.log", "containerd.log"} {
		b, err := os.ReadFile(filepath.Join(e.dir, f))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 150 {
			lines = lines[len(lines)-150:]
		}
		fmt.Fprintf(os.Stderr, "---- last lines of %s ----\n%s\n", f, strings.Join(lines, "\n"))
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// pod is a running pod sandbox of the test.
type pod struct {
	id      string
	handler string // its runtime handler: "wasm" or "wasm-forked"
	config  *cri.PodSandboxConfig
}

type podOpt func(*cri.PodSandboxConfig)

func hostNetwork(c *cri.PodSandboxConfig) {
	c.Linux = &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
		NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE},
	}}
}

// runPod runs a pod with runtime handler "wasm" and removes it at cleanup,
// as kubelet does: stop, then remove.
func runPod(t *testing.T, opts ...podOpt) *pod {
	t.Helper()
	return runPodWith(t, "wasm", opts...)
}

// runPodWith runs a pod with the given runtime handler.
func runPodWith(t *testing.T, handler string, opts ...podOpt) *pod {
	t.Helper()
	n := seq.Add(1)
	cfg := &cri.PodSandboxConfig{
		Metadata: &cri.PodSandboxMetadata{
			Name: fmt.Sprintf("%s-%d", sanitize(t.Name()), n), Namespace: "default", Uid: fmt.Sprintf("uid-%d-%d", os.Getpid(), n),
		},
		LogDirectory: filepath.Join(shared.dir, "logs", fmt.Sprint(n)),
	}
	for _, o := range opts {
		o(cfg)
	}
	resp, err := shared.runtime.RunPodSandbox(ctx(t), &cri.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	p := &pod{id: resp.PodSandboxId, handler: handler, config: cfg}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := removePod(c, p.id); err != nil {
			t.Error(err)
		}
	})
	return p
}

// removePod stops and removes a pod, as kubelet does.
func removePod(c context.Context, id string) error {
	if _, err := shared.runtime.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	if _, err := shared.runtime.RemovePodSandbox(c, &cri.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", id, err)
	}
	return nil
}

func sanitize(s string) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(s))
}

// container describes a container to create in a pod.
type container struct {
	image   string
	command []string
	args    []string
	env     map[string]string
	// config, when set, adjusts the CRI config (resources, tty, stdin).
	config func(*cri.ContainerConfig)
}

// create creates a container; it is removed at cleanup.
func (p *pod) create(t *testing.T, c container) string {
	t.Helper()
	id, err := p.tryCreate(t, c)
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	return id
}

func (p *pod) tryCreate(t *testing.T, c container) (string, error) {
	n := seq.Add(1)
	cfg := &cri.ContainerConfig{
		Metadata: &cri.ContainerMetadata{Name: fmt.Sprintf("c%d", n)},
		Image:    &cri.ImageSpec{Image: c.image},
		Command:  c.command,
		Args:     c.args,
		LogPath:  fmt.Sprintf("c%d.log", n),
	}
	for k, v := range c.env {
		cfg.Envs = append(cfg.Envs, &cri.KeyValue{Key: k, Value: []byte(v)})
	}
	if c.config != nil {
		c.config(cfg)
	}
	resp, err := shared.runtime.CreateContainer(ctx(t), &cri.CreateContainerRequest{PodSandboxId: p.id, Config: cfg, SandboxConfig: p.config})
	if err != nil {
		return "", err
	}
	id := resp.ContainerId
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := shared.runtime.RemoveContainer(c, &cri.RemoveContainerRequest{ContainerId: id}); err != nil {
			t.Errorf("RemoveContainer %s: %v", id, err)
		}
	})
	return id, nil
}

func start(t *testing.T, id string) {
	t.Helper()
	if _, err := shared.runtime.StartContainer(ctx(t), &cri.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
}

func status(t *testing.T, id string) *cri.ContainerStatus {
	t.Helper()
	resp, err := shared.runtime.ContainerStatus(ctx(t), &cri.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus: %v", err)
	}
	return resp.Status
}

// waitExited polls ContainerStatus, as kubelet's PLEG does, until the
// container has exited.
func waitExited(t *testing.T, id string) *cri.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := status(t, id)
		if st.State == cri.ContainerState_CONTAINER_EXITED {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %v after 60s", id, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRunning waits until the container reports running.
func waitRunning(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for status(t, id).State != cri.ContainerState_CONTAINER_RUNNING {
		if time.Now().After(deadline) {
			t.Fatalf("container %s not running after 30s", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logLine is one line of a CRI log file: "<time> <stream> <P|F> <text>".
type logLine struct {
	stream string
	text   string
}

// logs reads a container's CRI log file, joining partial lines.
func logs(t *testing.T, st *cri.ContainerStatus) []logLine {
	t.Helper()
	f, err := os.Open(st.LogPath)
	if err != nil {
		t.Fatalf("open CRI log: %v", err)
	}
	defer f.Close()
	var out []logLine
	partial := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), " ", 4)
		if len(parts) < 3 {
			t.Fatalf("malformed CRI log line %q", sc.Text())
		}
		text := ""
		if len(parts) == 4 {
			text = parts[3]
		}
		if parts[2] == "P" {
			partial[parts[1]] += text
			continue
		}
		out = append(out, logLine{stream: parts[1], text: partial[parts[1]] + text})
		delete(partial, parts[1])
	}
	return out
}

// stdout returns the stdout lines of a log.
func streamLines(lines []logLine, stream string) []string {
	var out []string
	for _, l := range lines {
		if l.stream == stream {
			out = append(out, l.text)
		}
	}
	return out
}
