package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/listen"
)

// buildModule builds a program of hack/wasm for wasip1.
func buildModule(t testing.TB, pkg string) []byte {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go tool is not in PATH")
	}
	out := filepath.Join(t.TempDir(), "m.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/"+pkg)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func freePort(t testing.TB) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

type served struct {
	port   uint16
	cancel context.CancelFunc
	done   chan struct{} // closed when the module ended, with err
	err    error
	stdout *bytes.Buffer
}

// serve runs module bin with two preopened dirs and a listener on a free
// port, in the calling process, on an engine that a cancel interrupts (as
// the goroutine runtime does).
func serve(t testing.TB, bin []byte, args ...string) *served {
	t.Helper()
	ctx := context.Background()
	rt, err := engine.New(ctx, wazero.NewCompilationCache(), engine.Interruptible())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	compiled, err := rt.CompileModule(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	files, err := listen.Open("", []uint16{port}, listen.Owner{})
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithArgs(append([]string{"m"}, args...)...).
		WithStdout(&lockedWriter{w: &stdout}).WithStderr(os.Stderr).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(t.TempDir(), "/").WithDirMount(t.TempDir(), "/data")).
		WithSysNanosleep().WithSysNanotime().WithSysWalltime()
	rctx, cancel := context.WithCancel(ctx)
	s := &served{port: port, cancel: cancel, done: make(chan struct{}), stdout: &stdout}
	go func() {
		s.err = engine.Instantiate(engine.WithListeners(rctx, files), rt, compiled, cfg)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("module did not end 10 s after its context")
		}
	})
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// TestServeNetHTTP runs the demo net/http server (hack/wasm/httpd) on a
// preopened listener: it answers (so poll_oneoff really waits on its
// sockets), over IPv4 and IPv6, keep-alive and concurrent connections; a
// cancel ends it and frees the port at once.
func TestServeNetHTTP(t *testing.T) {
	s := serve(t, buildModule(t, "httpd"))
	base := fmt.Sprintf("http://127.0.0.1:%d", s.port)
	c := &http.Client{Timeout: 10 * time.Second}
	if got := get(t, c, base+"/healthz"); got != "ok\n" {
		t.Fatalf("/healthz = %q", got)
	}
	if got := get(t, c, base+"/"); !strings.HasPrefix(got, "hello from wasm") {
		t.Fatalf("/ = %q", got)
	}
	if c6, err := net.Dial("tcp", fmt.Sprintf("[::1]:%d", s.port)); err == nil {
		c6.Close()
		if got := get(t, c, fmt.Sprintf("http://[::1]:%d/healthz", s.port)); got != "ok\n" {
			t.Fatalf("IPv6 /healthz = %q", got)
		}
	}
	resp, err := c.Post(base+"/echo", "application/octet-stream", bytes.NewReader(make([]byte, 300000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "300000 bytes\n" {
		t.Fatalf("/echo = %q", b)
	}
	for i := 0; i < 300; i++ { // one keep-alive connection
		get(t, c, base+"/healthz")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			for j := 0; j < 10; j++ {
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
	// An open connection, then the end: it is closed and the port free.
	open, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if _, err := open.Read(buf); err != nil {
		t.Fatal(err)
	}
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the module did not end 5 s after its cancel")
	}
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := open.Read(buf); err == nil {
		t.Fatalf("connection still open after the end: read %d bytes", n)
	}
	again, err := listen.Open("", []uint16{s.port}, listen.Owner{})
	if err != nil {
		t.Fatalf("port %d not free after the module ended: %v", s.port, err)
	}
	listen.Close(again)
}

// TestServeRaw runs the raw responder (blocking sock_accept, fd_read,
// fd_write on the listener after two preopened dirs).
func TestServeRaw(t *testing.T) {
	s := serve(t, buildModule(t, "rawhttp"))
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 100; i++ {
		if got := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", s.port)); got != "hello, wasm!\n" {
			t.Fatalf("got %q", got)
		}
	}
}
