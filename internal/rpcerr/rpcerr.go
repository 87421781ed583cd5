// Package rpcerr converts errors at the RPC boundary (errdefs sentinels to
// gRPC status codes) and turns a panic in a handler into an error, so one
// bad request never takes the daemon down.
package rpcerr

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
)

// TTRPCInterceptor is the task API's server interceptor.
func TTRPCInterceptor(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (resp any, err error) {
	defer recoverTo(ctx, info.FullMethod, &err)
	resp, err = method(ctx, unmarshal)
	return resp, toRPC(ctx, info.FullMethod, err)
}

// GRPCInterceptor is the Controller API's server interceptor.
func GRPCInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer recoverTo(ctx, info.FullMethod, &err)
	resp, err = handler(ctx, req)
	return resp, toRPC(ctx, info.FullMethod, err)
}

func toRPC(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	l := log.G(ctx).WithError(err).WithField("method", method)
	if errdefs.IsNotFound(err) || errdefs.IsAlreadyExists(err) || errdefs.IsInvalidArgument(err) || errdefs.IsFailedPrecondition(err) || errdefs.IsNotImplemented(err) {
		l.Debug("request refused")
	} else {
		l.Warn("request failed")
	}
	return errgrpc.ToGRPC(err)
}

func recoverTo(ctx context.Context, method string, err *error) {
	if r := recover(); r != nil {
		log.G(ctx).WithField("method", method).Errorf("panic: %v\n%s", r, debug.Stack())
		*err = errgrpc.ToGRPC(fmt.Errorf("internal error in %s: %v: %w", method, r, errdefs.ErrInternal))
	}
}
