package nodelabel

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
)

func TestLabelInCluster(t *testing.T) {
	var got struct {
		method, path, ctype, auth string
		body                      map[string]any
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.ctype, got.auth = r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got.body) //nolint:errcheck
		if r.URL.Path == "/api/v1/nodes/missing" {
			http.Error(w, `{"reason":"NotFound"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{}`)) //nolint:errcheck
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600)             //nolint:errcheck
	os.WriteFile(filepath.Join(dir, "token"), []byte("tok\n"), 0o600) //nolint:errcheck
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)

	c, err := InCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := ParseLabels([]string{"wasm-sandboxer.io/ready=true"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Label(context.Background(), "node-1", labels); err != nil {
		t.Fatal(err)
	}
	if got.method != http.MethodPatch || got.path != "/api/v1/nodes/node-1" || got.ctype != "application/merge-patch+json" || got.auth != "Bearer tok" {
		t.Errorf("request %+v", got)
	}
	want := `{"metadata":{"labels":{"wasm-sandboxer.io/ready":"true"}}}`
	if b, _ := json.Marshal(got.body); string(b) != want {
		t.Errorf("patch %s, want %s", b, want)
	}
	if err := c.Label(context.Background(), "missing", labels); !errdefs.IsNotFound(err) {
		t.Errorf("label of a missing node: %v", err)
	}
}

func TestInClusterErrors(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InCluster(t.TempDir()); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("outside a pod: %v", err)
	}
	for _, bad := range [][]string{nil, {"novalue"}, {"=v"}} {
		if _, err := ParseLabels(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseLabels(%q): %v", bad, err)
		}
	}
}
