//go:build integration

package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const httpdImage = "docker.io/library/wasm-httpd:latest"

// kubeletPorts is the container annotation kubelet sets from the pod
// spec's ports (pkg/kubelet/kuberuntime/labels.go), which the drop-in's
// container_annotations passes into the OCI spec.
func kubeletPorts(ports ...int) func(*cri.ContainerConfig) {
	var parts []string
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf(`{"containerPort":%d,"protocol":"TCP"}`, p))
	}
	return func(c *cri.ContainerConfig) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations["io.kubernetes.container.ports"] = "[" + strings.Join(parts, ",") + "]"
	}
}

// explicitPorts sets wasm-sandboxer.io/ports on the container.
func explicitPorts(list string) func(*cri.ContainerConfig) {
	return func(c *cri.ContainerConfig) {
		c.Annotations = map[string]string{"wasm-sandboxer.io/ports": list}
	}
}

func podIP(t *testing.T, p *pod) string {
	t.Helper()
	ps, err := shared.runtime.PodSandboxStatus(ctx(t), &cri.PodSandboxStatusRequest{PodSandboxId: p.id})
	if err != nil {
		t.Fatal(err)
	}
	ip := ps.Status.GetNetwork().GetIp()
	if ip == "" {
		t.Fatal("pod has no IP: CNI did not run")
	}
	return ip
}

// httpGet GETs url as kubelet's HTTP probe does (a fresh connection),
// retrying for a while as a readiness probe would.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b)
			}
			err = fmt.Errorf("status %d, body %q, %v", resp.StatusCode, b, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tcpProbe connects and closes, as kubelet's TCP probe does.
func tcpProbe(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("TCP probe %s: %v", addr, err)
	}
	c.Close()
}

// TestServePodNetwork: the demo web server (hack/wasm/httpd) with a plain
// containerPort (kubelet's annotation only) answers on its pod IP; kubelet's
// three probes work (HTTP and TCP to the pod IP, exec as ExecSync with a
// timeout); two pods serve the same port; 1,000 sequential keep-alive
// requests and 50 concurrent connections go without error; StopContainer
// with connections open closes them and the module exits 143.
func TestServePodNetwork(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		id := p.running(t, container{image: httpdImage, config: kubeletPorts(8080)})
		base := "http://" + net.JoinHostPort(podIP(t, p), "8080")
		if got := httpGet(t, base+"/"); !strings.HasPrefix(got, "hello from wasm") {
			t.Fatalf("GET / = %q", got)
		}
		if got := httpGet(t, base+"/healthz"); got != "ok\n" { // HTTP probe
			t.Fatalf("GET /healthz = %q", got)
		}
		tcpProbe(t, net.JoinHostPort(podIP(t, p), "8080"))
		if r, err := execSync(t, id, 5, "/hello.wasm"); err != nil || r.ExitCode != 0 { // exec probe
			t.Fatalf("exec probe: %v %+v", err, r)
		}

		// A second pod on the same port answers on its own IP.
		q := runPodWith(t, p.handler)
		q.running(t, container{image: httpdImage, config: kubeletPorts(8080)})
		other := "http://" + net.JoinHostPort(podIP(t, q), "8080")
		if podIP(t, q) == podIP(t, p) {
			t.Fatal("two pods with one IP")
		}
		httpGet(t, other+"/healthz")

		// 1,000 sequential requests on one keep-alive connection.
		c := &http.Client{Timeout: 10 * time.Second}
		for i := 0; i < 1000; i++ {
			resp, err := c.Get(base + "/healthz")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", i, resp.StatusCode)
			}
		}
		// 50 concurrent connections, 10 requests each.
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
				defer cc.CloseIdleConnections()
				for j := 0; j < 10; j++ {
					resp, err := cc.Post(base+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != "1000 bytes\n" {
						errs <- fmt.Errorf("echo: %q", b)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		// StopContainer with a connection open: it closes, exit 143.
		open, err := net.Dial("tcp", net.JoinHostPort(podIP(t, p), "8080"))
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close()
		open.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
		buf := make([]byte, 512)
		if _, err := open.Read(buf); err != nil {
			t.Fatal(err)
		}
		stop(t, id, 10)
		if st := waitExited(t, id); st.ExitCode != 143 {
			t.Fatalf("exit %d after StopContainer, want 143", st.ExitCode)
		}
		open.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := open.Read(buf); err == nil {
			t.Fatalf("connection open after the stop (read %d bytes)", n)
		}
		// The port is free at once: a new container of the pod binds it.
		again := p.running(t, container{image: httpdImage, config: kubeletPorts(8080)})
		httpGet(t, base+"/healthz")
		stop(t, again, 0)
	})
}

// TestServeHostNetwork: a hostNetwork pod listens in the host's namespace
// (tested on loopback only), on the ports of the explicit annotation: on
// the container in one runtime, on the pod (containerd's pod_annotations
// passthrough) in the other.
func TestServeHostNetwork(t *testing.T) {
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) {
			port := freePort(t)
			var c container
			opts := []podOpt{hostNetwork}
			if h == "wasm" {
				c = container{image: httpdImage, config: explicitPorts(strconv.Itoa(port))}
			} else {
				c = container{image: httpdImage}
				opts = append(opts, func(pc *cri.PodSandboxConfig) {
					pc.Annotations = map[string]string{"wasm-sandboxer.io/ports": strconv.Itoa(port)}
				})
			}
			p := runPodWith(t, h, opts...)
			id := p.running(t, c)
			if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); got != "ok\n" {
				t.Fatalf("GET /healthz = %q", got)
			}
			stop(t, id, 10)
			if st := waitExited(t, id); st.ExitCode != 143 {
				t.Fatalf("exit %d, want 143", st.ExitCode)
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatalf("port %d not free after the stop: %v", port, err)
			}
			ln.Close()
		})
	}
}

// TestServeCtrRun: ctr run --annotation wasm-sandboxer.io/ports=PORT
// serves on the host's loopback (the ctr path has no pod network), and
// ctr task kill frees the port.
func TestServeCtrRun(t *testing.T) {
	port := freePort(t)
	id := fmt.Sprintf("ctr-web-%d", seq.Add(1))
	if _, err := ctrIn(t, "default", "", "run", "-d", "--fifo-dir", filepath.Join(shared.dir, "fifo"),
		"--runtime", "io.containerd.wasm.v1", "--annotation", "wasm-sandboxer.io/ports="+strconv.Itoa(port),
		httpdImage, id); err != nil {
		t.Fatalf("ctr run -d: %v", err)
	}
	t.Cleanup(func() {
		ctrIn(t, "default", "", "task", "kill", "-s", "SIGKILL", id)
		time.Sleep(200 * time.Millisecond)
		ctrIn(t, "default", "", "task", "delete", id)
		ctrIn(t, "default", "", "container", "delete", id)
	})
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port)); got != "ok\n" {
		t.Fatalf("GET /healthz = %q", got)
	}
	if _, err := ctrIn(t, "default", "", "task", "kill", "-s", "SIGTERM", id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d not free 10 s after ctr task kill: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeBadPorts: a port in use in the pod, UDP or a port out of range
// fails StartContainer with an error naming the port; the pod's server
// goes on.
func TestServeBadPorts(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, p *pod) {
		p.running(t, container{image: httpdImage, config: kubeletPorts(8080)})
		base := "http://" + net.JoinHostPort(podIP(t, p), "8080")
		httpGet(t, base+"/healthz")
		for _, tc := range []struct {
			cfg  func(*cri.ContainerConfig)
			want string
		}{
			{kubeletPorts(8080), "port 8080: already in use"},
			{explicitPorts("53/udp"), "port 53/udp: only TCP"},
			{explicitPorts("70000"), "port 70000 is out of range"},
		} {
			err := startErr(t, p.create(t, container{image: httpdImage, config: tc.cfg}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start error %v, want one naming %q", err, tc.want)
			}
		}
		httpGet(t, base+"/healthz")
	})
}

// TestServeForkedAcrossDaemonRestart: a forked pod's server keeps serving
// while the daemon restarts (its worker and pod server outlive the
// daemon), and stops normally afterwards.
func TestServeForkedAcrossDaemonRestart(t *testing.T) {
	p := runPodWith(t, "wasm-forked")
	id := p.running(t, container{image: httpdImage, config: kubeletPorts(8080)})
	base := "http://" + net.JoinHostPort(podIP(t, p), "8080")
	httpGet(t, base+"/healthz")
	c := &http.Client{Timeout: 5 * time.Second}
	stopLoad := make(chan struct{})
	var failures, done int
	var mu sync.Mutex
	go func() {
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			resp, err := c.Get(base + "/healthz")
			mu.Lock()
			if err != nil {
				failures++
			} else {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				done++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	restartSandboxer(t, "TERM", p.id)
	time.Sleep(500 * time.Millisecond)
	close(stopLoad)
	mu.Lock()
	t.Logf("%d requests across the restart, %d failed", done, failures)
	if failures > 0 {
		t.Errorf("%d requests failed across the daemon restart", failures)
	}
	mu.Unlock()
	httpGet(t, base+"/healthz")
	stop(t, id, 10)
	if st := waitExited(t, id); st.ExitCode != 143 {
		t.Fatalf("exit %d after the restart and a stop, want 143", st.ExitCode)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
