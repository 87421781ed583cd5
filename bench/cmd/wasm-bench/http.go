package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
)

const imgHTTPD = "docker.io/library/wasm-httpd:latest"

// server is one HTTP server under load: where it listens and how it ends.
type server struct {
	addr string
	stop func()
}

// fig9: requests/s and latency quantiles of a keep-alive load generator
// (bench.LoadHTTP) on loopback, against the net/http demo server
// (hack/wasm/httpd) in a hostNetwork pod of each runtime and the same
// program built natively (the ceiling), and against the raw responder
// (hack/wasm/rawhttp, blocking accept/read/write, one connection at a
// time: C = 1 only) in each runtime and under `wazero run -listen` (the
// engine's own socket path).
func (r *runner) fig9(ctx context.Context) error {
	dur := 10 * time.Second
	if r.res.Quick {
		dur = 3 * time.Second
	}
	f := r.figure(9, "HTTP requests/s (keep-alive, loopback)", "ms", "req/s",
		fmt.Sprintf("bench.LoadHTTP: C keep-alive connections, one request in flight each, %s per row after a 1 s warm-up; GET /healthz (net/http demo) or / (raw responder); the summary is per-request latency; net/http rows' ratio is to the native build of the same program at the same C, the raw responder's to `wazero run -listen`", dur))
	conn, err := grpc.NewClient("unix://"+r.sock(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := cri.NewRuntimeServiceClient(conn)

	type target struct {
		row   string
		path  string
		conns []int
		start func() (*server, error)
	}
	pod := func(handler, module string) func() (*server, error) {
		return func() (*server, error) { return r.httpPod(ctx, rs, handler, module) }
	}
	const nethttp, raw = "net/http demo", "raw responder"
	targets := []target{
		{nethttp + ", native", "/healthz", []int{1, 16}, r.nativeHTTPD},
		{nethttp + ", goroutine", "/healthz", []int{1, 16}, pod("wasm", "/httpd.wasm")},
		{nethttp + ", forked", "/healthz", []int{1, 16}, pod("wasm-forked", "/httpd.wasm")},
		{raw + ", wazero run -listen", "/", []int{1}, r.wazeroRaw},
		{raw + ", goroutine", "/", []int{1}, pod("wasm", "/rawhttp.wasm")},
		{raw + ", forked", "/", []int{1}, pod("wasm-forked", "/rawhttp.wasm")},
	}
	for _, tg := range targets {
		logf("figure 9: %s", tg.row)
		s, err := tg.start()
		for _, c := range tg.conns {
			name := fmt.Sprintf("%s, C=%d", tg.row, c)
			if err != nil {
				f.Rows = append(f.Rows, &bench.Row{Name: name, Err: err.Error()})
				continue
			}
			bench.LoadHTTP(ctx, s.addr, tg.path, c, time.Second) //nolint:errcheck // warm-up
			l, lerr := bench.LoadHTTP(ctx, s.addr, tg.path, c, dur)
			ms := bench.Millis(l.Latencies)
			row := &bench.Row{Name: name, Summary: stats.Summarize(ms), Value: l.PerSecond()}
			if lerr != nil {
				row.Err = lerr.Error()
			}
			f.Rows = append(f.Rows, row)
		}
		if s != nil {
			s.stop()
		}
	}
	for _, c := range []int{1, 16} {
		var only []string
		for _, w := range []string{"goroutine", "forked"} {
			only = append(only, fmt.Sprintf("%s, %s, C=%d", nethttp, w, c))
		}
		f.SetRatios(fmt.Sprintf("%s, native, C=%d", nethttp, c), only...)
	}
	f.SetRatios(raw+", wazero run -listen, C=1", raw+", goroutine, C=1", raw+", forked, C=1")
	if v := f.Ratio(raw+", goroutine, C=1", raw+", wazero run -listen, C=1"); !math.IsNaN(v) {
		r.res.Targets = append(r.res.Targets, bench.Target{What: "#9 raw responder, goroutine / wazero run -listen", Ratio: v, Goal: "≥ 0.8", Met: v >= 0.8})
	}
	if v := f.Ratio(raw+", forked, C=1", raw+", wazero run -listen, C=1"); !math.IsNaN(v) {
		r.res.Targets = append(r.res.Targets, bench.Target{What: "#9 raw responder, forked / wazero run -listen", Ratio: v, Goal: "≥ 0.8", Met: v >= 0.8})
	}
	return nil
}

// freeLoopbackPort is a loopback TCP port nobody listens on now.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitServing waits until addr answers an HTTP request.
func waitServing(ctx context.Context, addr, path string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := bench.LoadHTTP(ctx, addr, path, 1, 50*time.Millisecond); err == nil {
			if l, _ := bench.LoadHTTP(ctx, addr, path, 1, 20*time.Millisecond); l.Requests > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer after 60 s", addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpPod runs module of the wasm-httpd image in a hostNetwork pod of
// handler, listening on a free loopback port (wasm-sandboxer.io/ports).
func (r *runner) httpPod(ctx context.Context, rs cri.RuntimeServiceClient, handler, module string) (*server, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("f8-%s-%d", handler, port)
	podCfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name},
		LogDirectory: filepath.Join(r.dir, "logs", name),
		Linux: &cri.LinuxPodSandboxConfig{SecurityContext: &cri.LinuxSandboxSecurityContext{
			NamespaceOptions: &cri.NamespaceOption{Network: cri.NamespaceMode_NODE}}},
	}
	p, err := rs.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podCfg, RuntimeHandler: handler})
	if err != nil {
		return nil, fmt.Errorf("RunPodSandbox (handler %q): %w", handler, err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		rs.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: p.PodSandboxId})
		rs.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: p.PodSandboxId})
	}
	c, err := rs.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: p.PodSandboxId, SandboxConfig: podCfg,
		Config: &cri.ContainerConfig{Metadata: &cri.ContainerMetadata{Name: "c"}, Image: &cri.ImageSpec{Image: imgHTTPD},
			Command: []string{module}, LogPath: "c.log",
			Annotations: map[string]string{"wasm-sandboxer.io/ports": strconv.Itoa(port)},
			// A CPU request of one core (kubelet: cpu.shares 1024), as the
			// native and wazero rows' processes have: without one a
			// BestEffort container gets cpu.shares 2, and a forked worker
			// (in the container's cgroup) starves on a busy machine.
			Linux: &cri.LinuxContainerConfig{Resources: &cri.LinuxContainerResources{CpuShares: 1024}}}})
	if err == nil {
		_, err = rs.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: c.ContainerId})
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err == nil {
		err = waitServing(ctx, addr, "/")
	}
	if err != nil {
		stop()
		return nil, err
	}
	return &server{addr: addr, stop: stop}, nil
}

// listenerFile is a loopback listener as a file for a child's fd 3.
func listenerFile() (*os.File, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	return f, ln.Addr().String(), err
}

// nativeHTTPD builds hack/wasm/httpd for the host and runs it with a
// listener on its fd 3: the same program, the ceiling.
func (r *runner) nativeHTTPD() (*server, error) {
	bin := filepath.Join(r.dir, "httpd-native")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./hack/wasm/httpd")
	build.Dir, build.Env = r.top, append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build native httpd: %v\n%s", err, b)
	}
	f, addr, err := listenerFile()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return r.startProcess(exec.Command(bin), f, addr)
}

// wazeroRaw runs the raw responder under `wazero run -listen`, upstream's
// CLI at the pinned version (make wazero-ref).
func (r *runner) wazeroRaw() (*server, error) {
	bin := filepath.Join(r.out, "bin", "wazero-ref")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("reference wazero CLI (make wazero-ref): %w", err)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return r.startProcess(exec.Command(bin, "run", "-listen="+addr, filepath.Join(r.out, "wasm", "rawhttp.wasm")), nil, addr)
}

func (r *runner) startProcess(cmd *exec.Cmd, fd3 *os.File, addr string) (*server, error) {
	if fd3 != nil {
		cmd.ExtraFiles = []*os.File{fd3}
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitServing(context.Background(), addr, "/"); err != nil {
		stop()
		return nil, err
	}
	return &server{addr: addr, stop: stop}, nil
}
