// Package rpclog gives each request's logger the ids it is about: the
// sandbox, and for the task API the container and exec, so every line a
// handler (or the error interceptor) logs can be found by pod or container.
package rpclog

import (
	"context"

	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
)

// TTRPC returns the task API interceptor of sandbox: the logger carries
// "sandbox", and "container" (and "exec") once the handler has decoded
// its request. Chain it first.
func TTRPC(sandbox string) ttrpc.UnaryServerInterceptor {
	return func(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
		ctx = log.WithLogger(ctx, log.G(ctx).WithField("sandbox", sandbox))
		entry := log.G(ctx) // the request's own entry (WithLogger stored a copy)
		return method(ctx, func(v any) error {
			err := unmarshal(v)
			// The handler decodes its request before it does anything
			// else, and the entry is this request's own: adding the ids
			// here is seen by every line it logs afterwards.
			if r, ok := v.(interface{ GetID() string }); ok && r.GetID() != "" {
				entry.Data["container"] = r.GetID()
			}
			if r, ok := v.(interface{ GetExecID() string }); ok && r.GetExecID() != "" {
				entry.Data["exec"] = r.GetExecID()
			}
			return err
		})
	}
}

// GRPC is the Controller API interceptor: the logger carries "sandbox".
// Chain it first.
func GRPC(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if r, ok := req.(interface{ GetSandboxID() string }); ok && r.GetSandboxID() != "" {
		ctx = log.WithLogger(ctx, log.G(ctx).WithField("sandbox", r.GetSandboxID()))
	}
	return handler(ctx, req)
}
