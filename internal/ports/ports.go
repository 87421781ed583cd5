// Package ports reads which TCP ports a container listens on from its OCI
// spec's annotations: the runtime opens a listener for each in the pod's
// network namespace and hands them to the module as preopened sockets
// (WASI preview 1's way), in the order given here.
//
// Two annotations, the first present wins (docs/configuration.md,
// docs/RATIONALE.md "Why do ports come from annotations?"):
//
//   - wasm-sandboxer.io/ports: "8080,9090" (or "8080/tcp,..."), explicit,
//     for ctr run, for pods without declared ports and to set the order;
//   - io.kubernetes.container.ports: kubelet's JSON list of the
//     container's ports (containerPort), which containerd copies into the
//     spec when the runtime's container_annotations lists it.
package ports

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// Annotation keys, in the order they are looked up.
const (
	Annotation        = "wasm-sandboxer.io/ports"
	KubeletAnnotation = "io.kubernetes.container.ports"
)

// Max is the most listeners one container may ask for.
const Max = 64

// kubeletPort is one entry of kubelet's io.kubernetes.container.ports
// (k8s.io/kubernetes pkg/kubelet/kuberuntime/labels.go).
type kubeletPort struct {
	Name          string `json:"name,omitempty"`
	HostPort      int32  `json:"hostPort,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
	HostIP        string `json:"hostIP,omitempty"`
}

// FromAnnotations returns the TCP ports the container listens on, in
// order, without duplicates; none when neither annotation is set. Errors
// wrap errkind.InvalidArgument and name the annotation and the port.
func FromAnnotations(a map[string]string) ([]uint16, error) {
	if v, ok := a[Annotation]; ok {
		return parseList(v)
	}
	if v, ok := a[KubeletAnnotation]; ok {
		return parseKubelet(v)
	}
	return nil, nil
}

func parseList(v string) ([]uint16, error) {
	var out []uint16
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		num, proto, _ := strings.Cut(f, "/")
		p, err := check(Annotation, num, proto)
		if err != nil {
			return nil, err
		}
		out = appendNew(out, p)
	}
	return bounded(Annotation, out)
}

func parseKubelet(v string) ([]uint16, error) {
	var list []kubeletPort
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return nil, invalid(KubeletAnnotation, fmt.Sprintf("is not a JSON list of ports: %v", err))
	}
	var out []uint16
	for _, kp := range list {
		p, err := check(KubeletAnnotation, strconv.Itoa(int(kp.ContainerPort)), kp.Protocol)
		if err != nil {
			return nil, err
		}
		out = appendNew(out, p)
	}
	return bounded(KubeletAnnotation, out)
}

func check(key, num, proto string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return 0, invalid(key, fmt.Sprintf("port %q is not a number", num))
	}
	if n < 1 || n > 65535 {
		return 0, invalid(key, fmt.Sprintf("port %d is out of range (1-65535)", n))
	}
	switch strings.ToLower(strings.TrimSpace(proto)) {
	case "", "tcp":
	default:
		return 0, invalid(key, fmt.Sprintf("port %d/%s: only TCP is supported (WASI preview 1 listeners are TCP sockets)", n, proto))
	}
	return uint16(n), nil
}

func appendNew(out []uint16, p uint16) []uint16 {
	for _, q := range out {
		if q == p {
			return out
		}
	}
	return append(out, p)
}

func bounded(key string, out []uint16) ([]uint16, error) {
	if len(out) > Max {
		return nil, invalid(key, fmt.Sprintf("names %d ports, more than %d", len(out), Max))
	}
	return out, nil
}

func invalid(key, msg string) error {
	return fmt.Errorf("annotation %s: %s: %w", key, msg, errkind.InvalidArgument)
}
