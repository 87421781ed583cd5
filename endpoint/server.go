// Package endpoint serves one sandbox's task API endpoint: the
// containerd.task.v3 service over ttrpc on the unix socket whose address
// the Controller's Start returns, together with a small control API on the
// same socket for the daemon. It serves wherever the sandbox's tasks run:
// the daemon for a goroutine-mode sandbox, the sandbox's pod server for a
// forked one (package podserver, whose Client speaks the control API).
package endpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpclog"
)

// ControlService is the ttrpc service the daemon calls on a pod server.
// It is served on the task socket (mode 0600, root's) next to the task API.
// Its name and methods are a protocol between a daemon and the pod servers
// an earlier daemon started: change them only compatibly.
const ControlService = "wasm_sandboxer.podserver.v1.Control"

// The control methods.
const (
	MethodKillAll  = "KillAll"  // durationpb.Duration (0: no bound) → Empty
	MethodShutdown = "Shutdown" // Empty → Empty; the server then exits
	MethodInfo     = "Info"     // Empty → Struct{tasks, pid}
	MethodStats    = "Stats"    // Empty → types.Metric: the pod's resource totals
	MethodMetrics  = "Metrics"  // Empty → BytesValue: the pod server's metric families, length-delimited protobuf
)

// Tasks is what a Server needs of a sandbox's task service.
type Tasks interface {
	taskapi.TTRPCTaskService
	// KillAll kills every task and waits for their exits or ctx.
	KillAll(ctx context.Context)
	// Close releases every task: the sandbox goes away.
	Close(ctx context.Context)
	// Len is the number of tasks.
	Len() int
	// Metrics is the pod's total resource use.
	Metrics(ctx context.Context) (*types.Metric, error)
}

// Server serves a sandbox's task API and the control API on one socket.
type Server struct {
	id    string
	tasks Tasks
	srv   *ttrpc.Server

	socket       string
	shutdown     chan struct{} // closed once the daemon asked for Shutdown
	shutdownOnce sync.Once
	metrics      prometheus.Gatherer
}

// Option configures a Server.
type Option func(*options)

type options struct {
	interceptors []ttrpc.UnaryServerInterceptor
	metrics      prometheus.Gatherer
}

// WithInterceptors adds task API interceptors, outside the error mapping
// (they see errors with their gRPC codes).
func WithInterceptors(is ...ttrpc.UnaryServerInterceptor) Option {
	return func(o *options) { o.interceptors = append(o.interceptors, is...) }
}

// WithMetrics serves g's figures to the daemon (the control API's Metrics).
func WithMetrics(g prometheus.Gatherer) Option {
	return func(o *options) { o.metrics = g }
}

// Listen opens a unix socket only root can use, replacing a stale file.
func Listen(socket string) (net.Listener, error) {
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", socket, err)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", socket, err)
	}
	if err := os.Chmod(socket, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", socket, err)
	}
	return ln, nil
}

// Serve listens on socket and serves tasks (sandbox id) there, in the
// background, until Close.
func Serve(ctx context.Context, id, socket string, tasks Tasks, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ln, err := Listen(socket)
	if err != nil {
		return nil, err
	}
	chain := append(append([]ttrpc.UnaryServerInterceptor{rpclog.TTRPC(id)}, o.interceptors...), rpcerr.TTRPCInterceptor)
	srv, err := ttrpc.NewServer(ttrpc.WithChainUnaryServerInterceptor(chain...))
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("task server: %w", err)
	}
	s := &Server{id: id, tasks: tasks, srv: srv, socket: socket, shutdown: make(chan struct{}), metrics: o.metrics}
	taskapi.RegisterTTRPCTaskService(srv, tasks)
	srv.RegisterService(ControlService, &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		MethodKillAll:  s.killAll,
		MethodShutdown: noArgs(s.shutdownTasks),
		MethodInfo:     noArgs(s.info),
		MethodStats:    noArgs(s.stats),
		MethodMetrics:  noArgs(s.gatherMetrics),
	}})
	go func() {
		if err := srv.Serve(context.WithoutCancel(ctx), ln); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			log.G(ctx).WithError(err).WithField("sandbox", id).Error("task server")
		}
	}()
	return s, nil
}

// ShutdownRequested is closed once the daemon called Shutdown: the tasks
// are released and the server should Close.
func (s *Server) ShutdownRequested() <-chan struct{} { return s.shutdown }

// Close stops serving: requests under way (a Wait being answered) get a
// moment to finish, then every connection closes and the socket goes.
func (s *Server) Close(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	s.srv.Shutdown(sctx) //nolint:errcheck // Close below ends what is left
	cancel()
	if err := s.srv.Close(); err != nil {
		log.G(ctx).WithError(err).WithField("sandbox", s.id).Warn("close task server")
	}
	os.Remove(s.socket)
}

func (s *Server) killAll(ctx context.Context, unmarshal func(any) error) (any, error) {
	var d durationpb.Duration
	if err := unmarshal(&d); err != nil {
		return nil, err
	}
	if t := d.AsDuration(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	s.tasks.KillAll(ctx)
	return &emptypb.Empty{}, nil
}

// noArgs is a control method whose request is Empty.
func noArgs(fn func(ctx context.Context) (any, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		if err := unmarshal(&emptypb.Empty{}); err != nil {
			return nil, err
		}
		return fn(ctx)
	}
}

func (s *Server) shutdownTasks(ctx context.Context) (any, error) {
	s.tasks.Close(ctx)
	s.shutdownOnce.Do(func() { close(s.shutdown) })
	return &emptypb.Empty{}, nil
}

func (s *Server) stats(ctx context.Context) (any, error) { return s.tasks.Metrics(ctx) }

func (s *Server) info(context.Context) (any, error) {
	return structpb.NewStruct(map[string]any{"tasks": s.tasks.Len(), "pid": os.Getpid()})
}

func (s *Server) gatherMetrics(context.Context) (any, error) {
	if s.metrics == nil {
		return &wrapperspb.BytesValue{}, nil
	}
	fams, err := s.metrics.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	b, err := metrics.Encode(fams)
	if err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(b), nil
}
