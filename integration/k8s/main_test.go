//go:build k8s

// Package k8s runs Wasm workloads on a real single-node Kubernetes
// (hack/k8s.sh: kubelet → the devenv's containerd → wasm-sandboxer) the way
// users do, with kubectl, in both runtimes (RuntimeClasses wasm and
// wasm-forked). make test-k8s builds what it needs and runs it as root.
//
// WASM_SANDBOXER_K8S_DIR=DIR runs the tests on a cluster already up in DIR
// (make k8s-up) and leaves it up; otherwise the tests start one in a temp
// dir and tear it down.
package k8s

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster is the devenv + Kubernetes every test shares.
type cluster struct {
	dir  string // the devenv's DIR; the cluster's files are in DIR/k8s
	out  string // _output
	keep bool   // WASM_SANDBOXER_K8S_DIR: not ours to tear down
}

var shared *cluster

// runtimeClasses are manifests/base's; each test runs in both.
var runtimeClasses = []string{"wasm", "wasm-forked"}

// testImages are hack/images.sh's archives the tests use.
// bench-pause is runc pods' sandbox (hack/k8s/containerd.toml).
var testImages = []string{"wasm-demo", "wasm-hello", "wasm-tiny", "wasm-httpd", "wasm-sandboxer-installer", "bench-pause"}

const (
	demoImage  = "docker.io/library/wasm-demo:latest"
	helloImage = "docker.io/library/wasm-hello:latest"
	tinyImage  = "docker.io/library/wasm-tiny:latest"
	webImage   = "docker.io/library/wasm-httpd:latest"
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "k8s tests need root: the kubelet and containerd mount, create cgroups and network namespaces")
		return 1
	}
	c, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s:", err)
		if c != nil {
			c.dumpLogs()
			c.stop()
		}
		return 1
	}
	shared = c
	code := m.Run()
	if code != 0 {
		c.dumpLogs()
	}
	if err := c.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "k8s: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(filepath.Dir(wd))
}

func start() (*cluster, error) {
	out := os.Getenv("WASM_SANDBOXER_OUT")
	if out == "" {
		out = filepath.Join(repoRoot(), "_output")
	}
	c := &cluster{out: out}
	if d := os.Getenv("WASM_SANDBOXER_K8S_DIR"); d != "" {
		c.dir, c.keep = d, true
	} else {
		d, err := os.MkdirTemp("", "wasm-k8s-")
		if err != nil {
			return nil, err
		}
		c.dir = d
		if b, err := c.hackEnv([]string{"DEVENV_CONTAINERD_CONFIG=" + filepath.Join(repoRoot(), "hack", "k8s", "containerd.toml")}, "devenv.sh", "start"); err != nil {
			return c, fmt.Errorf("devenv start: %v\n%s", err, b)
		}
		t0 := time.Now()
		if b, err := c.hack("k8s.sh", "up"); err != nil {
			return c, fmt.Errorf("k8s.sh up: %v\n%s", err, b)
		}
		fmt.Fprintf(os.Stderr, "k8s: cluster up in %v\n", time.Since(t0).Round(time.Second))
	}
	for _, img := range testImages {
		if b, err := c.ctr("images", "import", filepath.Join(out, "images", img+".tar")); err != nil {
			return c, fmt.Errorf("import %s: %v\n%s", img, err, b)
		}
	}
	if b, err := c.kubectl("", "apply", "--server-side", "-f", filepath.Join(repoRoot(), "manifests", "base", "runtimeclass.yaml")); err != nil {
		return c, fmt.Errorf("apply RuntimeClasses: %v\n%s", err, b)
	}
	return c, nil
}

// hack runs hack/SCRIPT VERB DIR [ARGS...].
func (c *cluster) hack(script, verb string, args ...string) ([]byte, error) {
	return c.hackEnv(nil, script, verb, args...)
}

// hackEnv runs hack/SCRIPT VERB DIR [ARGS...] with env added to ours.
func (c *cluster) hackEnv(env []string, script, verb string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(repoRoot(), "hack", script), append([]string{verb, c.dir}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func (c *cluster) stop() error {
	if c.keep {
		return nil
	}
	var errs []string
	if b, err := c.hack("k8s.sh", "down"); err != nil {
		errs = append(errs, fmt.Sprintf("k8s.sh down: %v\n%s", err, b))
	}
	if b, err := c.hack("devenv.sh", "stop"); err != nil {
		errs = append(errs, fmt.Sprintf("devenv stop: %v\n%s", err, b))
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// ctr runs ctr on the devenv's containerd in CRI's namespace, k8s.io.
func (c *cluster) ctr(args ...string) ([]byte, error) {
	args = append([]string{"--address", filepath.Join(c.dir, "containerd.sock"), "-n", "k8s.io"}, args...)
	return exec.Command(filepath.Join(c.out, "bin", "ctr"), args...).CombinedOutput()
}

// crictl runs crictl on the devenv's containerd.
func (c *cluster) crictl(args ...string) ([]byte, error) {
	args = append([]string{"--runtime-endpoint", "unix://" + filepath.Join(c.dir, "containerd.sock"), "--timeout", "30s"}, args...)
	return exec.Command(filepath.Join(c.out, "bin", "crictl"), args...).Output()
}

// kubectl runs kubectl with stdin as input; the output is stdout and
// stderr together.
func (c *cluster) kubectl(stdin string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.out, "bin", "kubectl"), append([]string{"--kubeconfig", filepath.Join(c.dir, "k8s", "admin.kubeconfig")}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd.CombinedOutput()
}

// kubelet GETs path from the kubelet's HTTPS endpoint (its port is in
// DIR/k8s/ports) with the admin client certificate.
func (c *cluster) kubelet(path string) ([]byte, error) {
	k := filepath.Join(c.dir, "k8s")
	port, err := c.port("kubelet")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(k, "pki", "ca.crt"))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(k, "pki", "admin.crt"), filepath.Join(k, "pki", "admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	resp, err := hc.Get("https://localhost:" + port + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("kubelet %s: %s: %s", path, resp.Status, b)
	}
	return b, err
}

// port is the port hack/k8s.sh gave component (DIR/k8s/ports).
func (c *cluster) port(component string) (string, error) {
	ports, err := os.ReadFile(filepath.Join(c.dir, "k8s", "ports"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(ports), "\n") {
		if v, ok := strings.CutPrefix(l, component+"="); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no port for %s in %s", component, filepath.Join(c.dir, "k8s", "ports"))
}

func (c *cluster) dumpLogs() {
	for _, f := range []string{"sandboxer.log", "containerd.log", "k8s/kubelet.log"} {
		b, err := os.ReadFile(filepath.Join(c.dir, f))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) > 80 {
			lines = lines[len(lines)-80:]
		}
		fmt.Fprintf(os.Stderr, "---- last lines of %s ----\n%s\n", f, strings.Join(lines, "\n"))
	}
}
