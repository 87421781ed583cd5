package tasktest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/listen"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ports"
)

var (
	httpdOnce sync.Once
	httpdBin  []byte
	httpdErr  error
)

// HTTPDModule builds hack/wasm/httpd (the net/http demo server) for
// wasip1 once per test binary.
func HTTPDModule(t testing.TB) []byte {
	t.Helper()
	httpdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "httpd-wasm")
		if err != nil {
			httpdErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "httpd.wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/httpd")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			httpdErr = &buildError{err: err, out: string(b)}
			return
		}
		httpdBin, httpdErr = os.ReadFile(out)
	})
	if httpdErr != nil {
		t.Fatalf("build httpd module: %v", httpdErr)
	}
	return httpdBin
}

// FreePort is a TCP port nobody listens on at the moment.
func FreePort(t testing.TB) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// httpdBundle is the demo server with the ports annotation.
func httpdBundle(t *testing.T, portList string) *bundle {
	b := newBundle(t, []string{"/httpd.wasm"}, map[string][]byte{"httpd.wasm": HTTPDModule(t)})
	b.spec.Annotations = map[string]string{ports.Annotation: portList}
	return b
}

// httpGet GETs url, retrying while the module starts; it returns the body.
func httpGet(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b)
			}
			err = fmt.Errorf("%d %q %v", resp.StatusCode, b, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// portFree asserts that port can be bound again at once.
func portFree(t *testing.T, what string, port uint16) {
	t.Helper()
	files, err := listen.Open("", []uint16{port}, listen.Owner{})
	if err != nil {
		t.Fatalf("%s: port %d not free: %v", what, port, err)
	}
	listen.Close(files)
}

var serveCases = []testCase{
	{"serve: net/http on preopened listeners, keep-alive and concurrent, kill closes connections and frees the ports", func(t *testing.T, f *fixture) {
		p1, p2 := FreePort(t), FreePort(t)
		b := httpdBundle(t, fmt.Sprintf("%d,%d", p1, p2))
		f.create(b, "web")
		f.start("web")
		c := &http.Client{Timeout: 10 * time.Second}
		for _, p := range []uint16{p1, p2} {
			if got := httpGet(t, c, fmt.Sprintf("http://127.0.0.1:%d/healthz", p)); got != "ok\n" {
				t.Fatalf("port %d /healthz = %q", p, got)
			}
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", p1)
		for i := 0; i < 200; i++ {
			httpGet(t, c, base+"/")
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
				defer cc.CloseIdleConnections()
				for j := 0; j < 5; j++ {
					resp, err := cc.Get(base + "/")
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		open, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p1))
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close()
		if _, err := open.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1024)
		if _, err := open.Read(buf); err != nil {
			t.Fatal(err)
		}
		if err := f.kill("web", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		expectCode(t, "SIGTERM", f.wait("web"), 143)
		open.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := open.Read(buf); err == nil {
			t.Fatalf("an open connection survived the kill (read %d bytes)", n)
		}
		portFree(t, "after the exit", p1)
		portFree(t, "after the exit", p2)
		f.delete("web")
	}},
	{"serve: a port in use, UDP or out of range fails the create naming the port; the pod's other tasks go on", func(t *testing.T, f *fixture) {
		p := FreePort(t)
		f.running(httpdBundle(t, strconv.Itoa(int(p))), "web")
		c := &http.Client{Timeout: 10 * time.Second}
		httpGet(t, c, fmt.Sprintf("http://127.0.0.1:%d/healthz", p))
		other := FreePort(t)
		f.expectCreate(t, "port in use", httpdBundle(t, fmt.Sprintf("%d,%d", other, p)), "", errdefs.IsAlreadyExists,
			fmt.Sprintf("port %d: already in use", p))
		portFree(t, "after a failed create", other) // the first port was let go
		f.expectCreate(t, "UDP", httpdBundle(t, "53/udp"), "", errdefs.IsInvalidArgument, "port 53/udp: only TCP")
		f.expectCreate(t, "out of range", httpdBundle(t, "65536"), "", errdefs.IsInvalidArgument, "port 65536 is out of range")
		nonRoot := httpdBundle(t, "80")
		nonRoot.spec.Process.User.UID = 1000
		f.expectCreate(t, "privileged", nonRoot, "", errdefs.IsPermissionDenied, "port 80: privileged")
		if got := httpGet(t, c, fmt.Sprintf("http://127.0.0.1:%d/healthz", p)); !strings.HasPrefix(got, "ok") {
			t.Fatalf("the running server after the failed creates: %q", got)
		}
	}},
}
