package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/status"
)

// TestReadyNotification runs the daemon in-process under a fake systemd:
// READY=1 arrives on $NOTIFY_SOCKET only once the controller socket and
// the metrics listener accept connections, and the variable is gone
// afterwards (pod servers must not inherit it).
func TestReadyNotification(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemon's state dir and compile cache are root's")
	}
	dir, err := os.MkdirTemp("", "wsd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	notify := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	t.Setenv("NOTIFY_SOCKET", notify)

	o := options{listen: filepath.Join(dir, "sandboxer.sock"), stateDir: filepath.Join(dir, "state"), logLevel: "warn", logFormat: "json",
		metricsAddress: "127.0.0.1:0", containerdAddress: filepath.Join(dir, "no-containerd.sock"),
		compileCacheSize: 1 << 20, workerPoolSize: 0, forkedSandboxer: "wasm-forked"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, o) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	buf := make([]byte, 256)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	n, err := nc.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Fatalf("notification %q, want READY=1", got)
	}
	if v, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Errorf("NOTIFY_SOCKET=%q still set after READY", v)
	}
	// Both listen now: no retry needed.
	r, err := status.Fetch(ctx, o.listen)
	if err != nil {
		t.Fatalf("status right after READY: %v", err)
	}
	if r.MetricsAddress == "" || r.Forked || len(r.Sandboxes) != 0 || r.Pid != os.Getpid() {
		t.Errorf("report %+v", r)
	}
	resp, err := http.Get("http://" + r.MetricsAddress + "/metrics")
	if err != nil {
		t.Fatalf("metrics right after READY: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`wasm_sandboxer_sandboxes{phase="ready",runtime="goroutine"} 0`,
		`wasm_sandboxer_tasks{runtime="goroutine",state="running"} 0`, "wasm_sandboxer_build_info"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
}
