package errkind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// Each kind must read as its errdefs counterpart everywhere containerd
// looks: errdefs.IsX, errors.Is against the sentinel, and the gRPC code.
func TestKindsAreErrdefs(t *testing.T) {
	for _, tc := range []struct {
		kind     error
		sentinel error
		is       func(error) bool
		code     codes.Code
	}{
		{errkind.InvalidArgument, errdefs.ErrInvalidArgument, errdefs.IsInvalidArgument, codes.InvalidArgument},
		{errkind.NotFound, errdefs.ErrNotFound, errdefs.IsNotFound, codes.NotFound},
		{errkind.NotImplemented, errdefs.ErrNotImplemented, errdefs.IsNotImplemented, codes.Unimplemented},
		{errkind.ResourceExhausted, errdefs.ErrResourceExhausted, errdefs.IsResourceExhausted, codes.ResourceExhausted},
		{errkind.FailedPrecondition, errdefs.ErrFailedPrecondition, errdefs.IsFailedPrecondition, codes.FailedPrecondition},
	} {
		err := fmt.Errorf("module x: %w", tc.kind)
		if !tc.is(err) {
			t.Errorf("%v: errdefs does not see its kind", tc.kind)
		}
		if !errors.Is(err, tc.sentinel) {
			t.Errorf("%v: errors.Is(err, %v) is false", tc.kind, tc.sentinel)
		}
		if got := status.Code(errgrpc.ToGRPC(err)); got != tc.code {
			t.Errorf("%v: gRPC code %v, want %v", tc.kind, got, tc.code)
		}
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			t.Errorf("%v: matches another kind", tc.kind)
		}
	}
}

func TestIsNotFound(t *testing.T) {
	for _, err := range []error{
		errkind.NotFound,
		fmt.Errorf("a: %w", errkind.NotFound),
		errdefs.ErrNotFound.WithMessage("layer"),
		fmt.Errorf("b: %w", errdefs.ErrNotFound),
	} {
		if !errkind.IsNotFound(err) {
			t.Errorf("IsNotFound(%v) = false", err)
		}
	}
	for _, err := range []error{errkind.InvalidArgument, errdefs.ErrInvalidArgument, errors.New("x")} {
		if errkind.IsNotFound(err) {
			t.Errorf("IsNotFound(%v) = true", err)
		}
	}
}
