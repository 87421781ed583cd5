package engine

import (
	"testing"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// TestCheckBinary: what is refused before compiling, and how. Components
// are told apart from core modules by their preamble (version 0x0d,
// layer 1), wherever the bytes came from (rootfs or image layer).
func TestCheckBinary(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want func(error) bool
	}{
		{"core module", []byte("\x00asm\x01\x00\x00\x00"), func(err error) bool { return err == nil }},
		{"core module with sections", tiny.Modules()["hello.wasm"], func(err error) bool { return err == nil }},
		{"component", []byte("\x00asm\x0d\x00\x01\x00"), errdefs.IsNotImplemented},
		{"component with sections", []byte("\x00asm\x0d\x00\x01\x00\x00\x04\x03abc"), errdefs.IsNotImplemented},
		{"truncated component", []byte("\x00asm\x0d\x00\x01"), errdefs.IsInvalidArgument},
		{"no magic", []byte("\x7fELF\x0d\x00\x01\x00"), errdefs.IsInvalidArgument},
		{"empty", nil, errdefs.IsInvalidArgument},
	} {
		if err := CheckBinary(tc.name, tc.b); !tc.want(err) {
			t.Errorf("%s: CheckBinary = %v", tc.name, err)
		}
	}
}
