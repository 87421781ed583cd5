// Package nodelabel sets labels on a Kubernetes node from inside a pod,
// with the pod's service account: one merge-patch request, so the
// installer image needs no kubectl and the project no client-go.
package nodelabel

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service account.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Client talks to the API server.
type Client struct {
	// Server is the API server's base URL (https://host:port).
	Server string
	// Token is the bearer token.
	Token string
	// HTTP carries the requests (TLS configured with the cluster's CA).
	HTTP *http.Client
}

// InCluster returns a Client from the pod's environment
// (KUBERNETES_SERVICE_HOST/PORT) and service account files in dir.
func InCluster(dir string) (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (not in a pod?): %w", errdefs.ErrFailedPrecondition)
	}
	token, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		return nil, fmt.Errorf("service account token: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("service account CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s: %w", filepath.Join(dir, "ca.crt"), errdefs.ErrInvalidArgument)
	}
	return &Client{
		Server: "https://" + net.JoinHostPort(host, port),
		Token:  strings.TrimSpace(string(token)),
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	}, nil
}

// Label sets labels on node (a JSON merge patch: other labels stay).
func (c *Client) Label(ctx context.Context, node string, labels map[string]string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	if err != nil {
		return err
	}
	u := c.Server + "/api/v1/nodes/" + url.PathEscape(node)
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("label node %s: %w", node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var sentinel error
	switch resp.StatusCode {
	case http.StatusNotFound:
		sentinel = errdefs.ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		sentinel = errdefs.ErrPermissionDenied
	default:
		sentinel = errdefs.ErrUnknown
	}
	return fmt.Errorf("label node %s: %s: %s: %w", node, resp.Status, bytes.TrimSpace(msg), sentinel)
}

// ParseLabels parses "k=v" arguments.
func ParseLabels(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key=value: %w", a, errdefs.ErrInvalidArgument)
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no label given: %w", errdefs.ErrInvalidArgument)
	}
	return out, nil
}
