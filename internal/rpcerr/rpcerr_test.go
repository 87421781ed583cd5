package rpcerr_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
)

// The interceptors fit the servers they are installed in.
var (
	_ grpc.UnaryServerInterceptor  = rpcerr.GRPCInterceptor
	_ ttrpc.UnaryServerInterceptor = rpcerr.TTRPCInterceptor
)

const method = "/containerd.test.v1.Svc/DoThing"

var errorCases = []struct {
	name string
	err  error
	code codes.Code
}{
	{"not found", errdefs.ErrNotFound, codes.NotFound},
	{"wrapped not found", fmt.Errorf("sandbox %q: %w", "sb1", errdefs.ErrNotFound), codes.NotFound},
	{"already exists", fmt.Errorf("sandbox: %w", errdefs.ErrAlreadyExists), codes.AlreadyExists},
	{"invalid argument", fmt.Errorf("process.args is empty: %w", errdefs.ErrInvalidArgument), codes.InvalidArgument},
	{"joined invalid argument", errors.Join(errors.New("stat failed"), errdefs.ErrInvalidArgument), codes.InvalidArgument},
	{"failed precondition", fmt.Errorf("task running: %w", errdefs.ErrFailedPrecondition), codes.FailedPrecondition},
	{"conflict", fmt.Errorf("x: %w", errdefs.ErrConflict), codes.FailedPrecondition},
	{"not implemented", fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented), codes.Unimplemented},
	{"data loss", fmt.Errorf("state: %w", errdefs.ErrDataLoss), codes.DataLoss},
	{"internal", fmt.Errorf("x: %w", errdefs.ErrInternal), codes.Internal},
	{"unavailable", fmt.Errorf("x: %w", errdefs.ErrUnavailable), codes.Unavailable},
	{"deadline", fmt.Errorf("wait: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
	{"canceled", fmt.Errorf("wait: %w", context.Canceled), codes.Canceled},
	{"plain error", errors.New("something broke"), codes.Unknown},
	{"already a status", status.Error(codes.ResourceExhausted, "too many"), codes.ResourceExhausted},
}

func TestGRPCInterceptorErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			info := &grpc.UnaryServerInfo{FullMethod: method}
			resp, err := rpcerr.GRPCInterceptor(context.Background(), "req", info, func(context.Context, any) (any, error) {
				return nil, tc.err
			})
			if resp != nil {
				t.Errorf("resp = %v, want nil", resp)
			}
			checkStatus(t, err, tc.code, status.Convert(tc.err).Message())
		})
	}
}

func TestTTRPCInterceptorErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			info := &ttrpc.UnaryServerInfo{FullMethod: method}
			resp, err := rpcerr.TTRPCInterceptor(context.Background(), func(any) error { return nil }, info, func(context.Context, func(any) error) (any, error) {
				return nil, tc.err
			})
			if resp != nil {
				t.Errorf("resp = %v, want nil", resp)
			}
			checkStatus(t, err, tc.code, status.Convert(tc.err).Message())
		})
	}
}

func checkStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want code %v", code)
	}
	if got := status.Code(err); got != code {
		t.Errorf("code %v, want %v (err %q)", got, code, err)
	}
	if s, _ := status.FromError(err); !strings.Contains(s.Message(), msg) {
		t.Errorf("message %q does not keep %q", s.Message(), msg)
	}
}

type ctxKey struct{}

func TestGRPCInterceptorPassesThrough(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	req := &emptypb.Empty{}
	want := &emptypb.Empty{}
	calls := 0
	resp, err := rpcerr.GRPCInterceptor(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, func(hctx context.Context, hreq any) (any, error) {
		calls++
		if hctx.Value(ctxKey{}) != "v" {
			t.Error("handler did not get the request context")
		}
		if hreq != req {
			t.Errorf("handler got request %p, want %p", hreq, req)
		}
		return want, nil
	})
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if resp != want {
		t.Errorf("resp = %p, want %p", resp, want)
	}
	if calls != 1 {
		t.Errorf("handler called %d times, want 1", calls)
	}
}

func TestTTRPCInterceptorPassesThrough(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	unmarshaled := 0
	unmarshal := func(any) error { unmarshaled++; return nil }
	want := &emptypb.Empty{}
	resp, err := rpcerr.TTRPCInterceptor(ctx, unmarshal, &ttrpc.UnaryServerInfo{FullMethod: method}, func(hctx context.Context, u func(any) error) (any, error) {
		if hctx.Value(ctxKey{}) != "v" {
			t.Error("method did not get the request context")
		}
		if err := u(&emptypb.Empty{}); err != nil {
			return nil, err
		}
		return want, nil
	})
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if resp != want {
		t.Errorf("resp = %p, want %p", resp, want)
	}
	if unmarshaled != 1 {
		t.Errorf("unmarshal called %d times, want 1 (the interceptor must hand it to the method)", unmarshaled)
	}
	// An unmarshal error reaches the caller as a status too.
	_, err = rpcerr.TTRPCInterceptor(ctx, func(any) error { return fmt.Errorf("bad bytes: %w", errdefs.ErrInvalidArgument) }, &ttrpc.UnaryServerInfo{FullMethod: method}, func(_ context.Context, u func(any) error) (any, error) {
		return nil, u(&emptypb.Empty{})
	})
	checkStatus(t, err, codes.InvalidArgument, "bad bytes")
}

var panicCases = []struct {
	name  string
	value any
	want  string // in the message
}{
	{"string", "boom", "boom"},
	{"error", errors.New("kaboom"), "kaboom"},
	{"errdefs error", fmt.Errorf("x: %w", errdefs.ErrNotFound), "not found"},
	{"nil map write", nil, "assignment to entry in nil map"},
	{"nil", nil, "nil"},
}

// doPanic panics with v, or writes to a nil map for the runtime error case.
func doPanic(name string, v any) {
	if name == "nil map write" {
		var m map[string]int
		m["x"] = 1
	}
	panic(v)
}

func TestGRPCInterceptorPanic(t *testing.T) {
	for _, tc := range panicCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rpcerr.GRPCInterceptor(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: method}, func(context.Context, any) (any, error) {
				doPanic(tc.name, tc.value)
				return "unreachable", nil
			})
			if resp != nil {
				t.Errorf("resp = %v, want nil", resp)
			}
			checkPanicStatus(t, err, tc.want)
		})
	}
}

func TestTTRPCInterceptorPanic(t *testing.T) {
	for _, tc := range panicCases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := rpcerr.TTRPCInterceptor(context.Background(), func(any) error { return nil }, &ttrpc.UnaryServerInfo{FullMethod: method}, func(context.Context, func(any) error) (any, error) {
				doPanic(tc.name, tc.value)
				return "unreachable", nil
			})
			if resp != nil {
				t.Errorf("resp = %v, want nil", resp)
			}
			checkPanicStatus(t, err, tc.want)
		})
	}
}

func checkPanicStatus(t *testing.T, err error, want string) {
	t.Helper()
	if got := status.Code(err); got != codes.Internal {
		t.Fatalf("code %v, want Internal (err %v)", got, err)
	}
	msg := status.Convert(err).Message()
	if !strings.Contains(msg, method) {
		t.Errorf("message %q does not name the method %q", msg, method)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("message %q does not contain the panic value %q", msg, want)
	}
}

// handle implements the test service's methods: Ok returns an empty
// message, Panic panics, Missing returns a NotFound error.
func handle(name string) (any, error) {
	switch name {
	case "Panic":
		panic("handler exploded")
	case "Missing":
		return nil, fmt.Errorf("sandbox sb1: %w", errdefs.ErrNotFound)
	}
	return &emptypb.Empty{}, nil
}

// TestGRPCServer checks, over a real connection, that a panicking handler
// becomes an Internal error and the server keeps serving.
func TestGRPCServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "g.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(rpcerr.GRPCInterceptor))
	desc := grpc.ServiceDesc{ServiceName: "test.Svc", HandlerType: (*any)(nil)}
	for _, name := range []string{"Ok", "Panic", "Missing"} {
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: name,
			Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(emptypb.Empty)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(context.Context, any) (any, error) { return handle(name) }
				if ic == nil {
					return h(ctx, in)
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/test.Svc/" + name}, h)
			},
		})
	}
	srv.RegisterService(&desc, struct{}{})
	go srv.Serve(ln)
	defer srv.Stop()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func(name string) error {
		return conn.Invoke(context.Background(), "/test.Svc/"+name, &emptypb.Empty{}, &emptypb.Empty{})
	}
	checkServer(t, call)
}

// TestTTRPCServer is TestGRPCServer for ttrpc.
func TestTTRPCServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "t.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer(ttrpc.WithUnaryServerInterceptor(rpcerr.TTRPCInterceptor))
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]ttrpc.Method{}
	for _, name := range []string{"Ok", "Panic", "Missing"} {
		methods[name] = func(ctx context.Context, unmarshal func(any) error) (any, error) {
			if err := unmarshal(new(emptypb.Empty)); err != nil {
				return nil, err
			}
			return handle(name)
		}
	}
	srv.RegisterService("test.Svc", &ttrpc.ServiceDesc{Methods: methods})
	go srv.Serve(context.Background(), ln)
	defer srv.Close()

	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	call := func(name string) error {
		return client.Call(context.Background(), "test.Svc", name, &emptypb.Empty{}, &emptypb.Empty{})
	}
	checkServer(t, call)
}

func checkServer(t *testing.T, call func(string) error) {
	t.Helper()
	if err := call("Ok"); err != nil {
		t.Fatalf("Ok: %v", err)
	}
	err := call("Panic")
	if got := status.Code(err); got != codes.Internal {
		t.Fatalf("Panic: code %v, want Internal (err %v)", got, err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "/test.Svc/Panic") || !strings.Contains(msg, "handler exploded") {
		t.Errorf("Panic: message %q does not name the method and the panic", msg)
	}
	if got := status.Code(call("Missing")); got != codes.NotFound {
		t.Errorf("Missing: code %v, want NotFound", got)
	}
	// The server survived the panic.
	if err := call("Ok"); err != nil {
		t.Errorf("Ok after a panic: %v", err)
	}
}
