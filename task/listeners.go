package task

import (
	"fmt"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/listen"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ports"
)

// WithNetNS names the pod's network namespace, where a container's
// listeners are opened ("" or no option: this process's own, as for a
// hostNetwork pod or the ctr path).
func WithNetNS(path string) ServiceOption {
	return func(s *Service) { s.netns = path }
}

// openListeners opens the container's TCP listeners (its ports, from the
// spec's annotations: package ports) in the pod's network namespace. The
// caller owns them (listen.Close).
func (s *Service) openListeners(spec *specs.Spec) ([]*os.File, []uint16, error) {
	ps, err := ports.FromAnnotations(spec.Annotations)
	if err != nil || len(ps) == 0 {
		return nil, nil, err
	}
	files, err := listen.Open(s.netns, ps, ownerOf(spec))
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	return files, ps, nil
}

// ownerOf is who the module runs as, for the privileged-port check.
func ownerOf(spec *specs.Spec) listen.Owner {
	var o listen.Owner
	if p := spec.Process; p != nil {
		o.UID = p.User.UID
		if c := p.Capabilities; c != nil {
			o.NetBindService = slices.Contains(c.Effective, "CAP_NET_BIND_SERVICE")
		}
	}
	return o
}
