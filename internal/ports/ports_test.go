package ports_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ports"
)

func TestFromAnnotations(t *testing.T) {
	kubelet := `[{"name":"http","containerPort":8080,"protocol":"TCP"},{"containerPort":9090,"protocol":"TCP"}]`
	for _, tc := range []struct {
		name string
		a    map[string]string
		want []uint16
		err  string // substring of the error; "" for none
	}{
		{"none", map[string]string{"x": "y"}, nil, ""},
		{"explicit", map[string]string{ports.Annotation: "8080, 9090/tcp,8080"}, []uint16{8080, 9090}, ""},
		{"kubelet", map[string]string{ports.KubeletAnnotation: kubelet}, []uint16{8080, 9090}, ""},
		{"explicit wins and orders", map[string]string{ports.Annotation: "9090,8080", ports.KubeletAnnotation: kubelet}, []uint16{9090, 8080}, ""},
		{"explicit empty means none", map[string]string{ports.Annotation: "", ports.KubeletAnnotation: kubelet}, nil, ""},
		{"out of range", map[string]string{ports.Annotation: "70000"}, nil, "port 70000 is out of range"},
		{"zero", map[string]string{ports.Annotation: "0"}, nil, "port 0 is out of range"},
		{"udp", map[string]string{ports.Annotation: "53/udp"}, nil, "port 53/udp: only TCP"},
		{"kubelet udp", map[string]string{ports.KubeletAnnotation: `[{"containerPort":53,"protocol":"UDP"}]`}, nil, "port 53/UDP: only TCP"},
		{"not a number", map[string]string{ports.Annotation: "http"}, nil, `port "http" is not a number`},
		{"bad json", map[string]string{ports.KubeletAnnotation: `{`}, nil, "not a JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ports.FromAnnotations(tc.a)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("err = %v, want an invalid argument containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
