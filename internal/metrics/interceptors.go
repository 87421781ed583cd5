package metrics

import (
	"context"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/ttrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// TTRPCInterceptor counts the task API's failed requests and times task
// starts (Create request to Start answer). Chain it outside
// rpcerr.TTRPCInterceptor, so errors carry their gRPC code.
func (m *Metrics) TTRPCInterceptor(ctx context.Context, unmarshal ttrpc.Unmarshaler, info *ttrpc.UnaryServerInfo, method ttrpc.Method) (any, error) {
	began := time.Now()
	var req any
	resp, err := method(ctx, func(v any) error {
		req = v
		return unmarshal(v)
	})
	if err != nil {
		m.rpcError(info.FullMethod, err)
		return resp, err
	}
	switch r := req.(type) {
	case *taskapi.CreateTaskRequest:
		m.mu.Lock()
		m.created[r.ID] = began
		m.mu.Unlock()
	case *taskapi.StartRequest:
		if r.ExecID == "" {
			m.mu.Lock()
			t, ok := m.created[r.ID]
			delete(m.created, r.ID)
			m.mu.Unlock()
			if ok {
				m.taskStart.Observe(time.Since(t).Seconds())
			}
		}
	}
	return resp, err
}

func (m *Metrics) forgetCreate(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.created, id)
}

func (m *Metrics) rpcError(method string, err error) {
	m.rpcErrors.WithLabelValues(method, status.Code(err).String()).Inc()
}

// GRPCInterceptor counts the Controller API's failed requests and times
// sandbox starts; runtimeOf names a sandbox's runtime. Chain it outside
// rpcerr.GRPCInterceptor.
func (m *Metrics) GRPCInterceptor(runtimeOf func(sandboxID string) string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		began := time.Now()
		resp, err := handler(ctx, req)
		if err != nil {
			m.rpcError(info.FullMethod, err)
			return resp, err
		}
		if r, ok := req.(*sandboxapi.ControllerStartRequest); ok {
			m.observeSandboxStart(runtimeOf(r.SandboxID), time.Since(began))
		}
		return resp, err
	}
}
