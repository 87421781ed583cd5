// Package errkind gives errors the kinds containerd's errdefs knows
// (invalid argument, not found…) without importing containerd: the forked
// runtime's worker links the code that makes these errors and must stay
// free of containerd's packages. errdefs recognises the kinds by their
// marker methods (errdefs.IsInvalidArgument and friends), and
// errors.Is(err, errdefs.ErrInvalidArgument) holds too, so callers and the
// RPC error mapping see no difference.
package errkind

import "errors"

// Kinds of error, each the counterpart of the errdefs sentinel of the same
// name.
var (
	InvalidArgument    error = invalidArgument{}
	NotFound           error = notFound{}
	NotImplemented     error = notImplemented{}
	ResourceExhausted  error = resourceExhausted{}
	FailedPrecondition error = failedPrecondition{}
)

type invalidArgument struct{}

func (invalidArgument) Error() string     { return "invalid argument" }
func (invalidArgument) InvalidParameter() {}
func (invalidArgument) Is(target error) bool {
	_, ok := target.(interface{ InvalidParameter() })
	return ok
}

type notFound struct{}

func (notFound) Error() string { return "not found" }
func (notFound) NotFound()     {}
func (notFound) Is(target error) bool {
	_, ok := target.(interface{ NotFound() })
	return ok
}

type notImplemented struct{}

func (notImplemented) Error() string   { return "not implemented" }
func (notImplemented) NotImplemented() {}
func (notImplemented) Is(target error) bool {
	_, ok := target.(interface{ NotImplemented() })
	return ok
}

type resourceExhausted struct{}

func (resourceExhausted) Error() string      { return "resource exhausted" }
func (resourceExhausted) ResourceExhausted() {}
func (resourceExhausted) Is(target error) bool {
	_, ok := target.(interface{ ResourceExhausted() })
	return ok
}

type failedPrecondition struct{}

func (failedPrecondition) Error() string       { return "failed precondition" }
func (failedPrecondition) FailedPrecondition() {}
func (failedPrecondition) Is(target error) bool {
	_, ok := target.(interface{ FailedPrecondition() })
	return ok
}

// IsNotFound reports whether err is of the not-found kind, ours or
// errdefs' (anything in its chain with a NotFound marker method).
func IsNotFound(err error) bool {
	var nf interface{ NotFound() }
	return errors.As(err, &nf)
}
