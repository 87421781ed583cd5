package podserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/ttrpc"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
)

// Client is the daemon's connection to a pod server.
type Client struct {
	c        *ttrpc.Client
	gone     chan struct{}
	goneOnce sync.Once
	detached atomic.Bool
}

// Dial connects to the pod server on socket. It fails at once when no
// process serves the socket (a pod server that died leaves the file).
func Dial(ctx context.Context, socket string) (*Client, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("pod server on %s: %w", socket, err)
	}
	cl := &Client{gone: make(chan struct{})}
	cl.c = ttrpc.NewClient(conn, ttrpc.WithOnClose(func() {
		cl.goneOnce.Do(func() { close(cl.gone) })
	}))
	if _, err := cl.Info(ctx); err != nil {
		cl.c.Close()
		return nil, fmt.Errorf("pod server on %s does not answer: %w", socket, err)
	}
	return cl, nil
}

// Gone is closed when the connection ends without Detach: the pod server
// exited (its tasks are gone with it).
func (cl *Client) Gone() <-chan struct{} {
	if cl.detached.Load() {
		return nil
	}
	return cl.gone
}

// Detach drops the connection; the pod server and its tasks run on (the
// daemon stops, a restarted one attaches again).
func (cl *Client) Detach() {
	cl.detached.Store(true)
	cl.c.Close()
}

// KillAll kills every task of the pod and waits for their exits, at most
// timeout (0: no bound but ctx).
func (cl *Client) KillAll(ctx context.Context, timeout time.Duration) error {
	return cl.call(ctx, endpoint.MethodKillAll, durationpb.New(timeout), &emptypb.Empty{})
}

// Shutdown releases every task; the pod server then exits.
func (cl *Client) Shutdown(ctx context.Context) error {
	err := cl.c.Call(ctx, endpoint.ControlService, endpoint.MethodShutdown, &emptypb.Empty{}, &emptypb.Empty{})
	if errors.Is(err, ttrpc.ErrClosed) {
		// The server exits once its tasks are shut down; its answer may
		// lose the race with its exit. Either way it is gone.
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod server %s: %w", endpoint.MethodShutdown, errgrpc.ToNative(err))
	}
	return nil
}

// Stats is the pod's total resource use, summed by the pod server.
func (cl *Client) Stats(ctx context.Context) (*types.Metric, error) {
	var m types.Metric
	if err := cl.call(ctx, endpoint.MethodStats, &emptypb.Empty{}, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Info is what a pod server reports of itself.
type Info struct {
	Tasks int
	Pid   int
}

// Info asks the pod server for its task count and pid.
func (cl *Client) Info(ctx context.Context) (Info, error) {
	var s structpb.Struct
	if err := cl.call(ctx, endpoint.MethodInfo, &emptypb.Empty{}, &s); err != nil {
		return Info{}, err
	}
	m := s.AsMap()
	num := func(k string) int { f, _ := m[k].(float64); return int(f) }
	return Info{Tasks: num("tasks"), Pid: num("pid")}, nil
}

// Metrics fetches the pod server's metric families.
func (cl *Client) Metrics(ctx context.Context) ([]*dto.MetricFamily, error) {
	var b wrapperspb.BytesValue
	if err := cl.call(ctx, endpoint.MethodMetrics, &emptypb.Empty{}, &b); err != nil {
		return nil, err
	}
	return metrics.Decode(b.Value)
}

func (cl *Client) call(ctx context.Context, method string, req, resp any) error {
	if err := cl.c.Call(ctx, endpoint.ControlService, method, req, resp); err != nil {
		return fmt.Errorf("pod server %s: %w", method, errgrpc.ToNative(err))
	}
	return nil
}
