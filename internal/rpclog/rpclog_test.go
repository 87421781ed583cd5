package rpclog

import (
	"context"
	"testing"

	taskapi "github.com/containerd/containerd/api/runtime/task/v3"
	sandboxapi "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func TestTTRPCFields(t *testing.T) {
	req := &taskapi.StartRequest{ID: "c1", ExecID: "e1"}
	b, _ := proto.Marshal(req)
	var fields logrus.Fields
	_, err := TTRPC("sb1")(context.Background(), func(v any) error { return proto.Unmarshal(b, v.(proto.Message)) },
		&ttrpc.UnaryServerInfo{FullMethod: "/containerd.task.v3.Task/Start"},
		func(ctx context.Context, unmarshal func(any) error) (any, error) {
			var r taskapi.StartRequest
			if err := unmarshal(&r); err != nil {
				return nil, err
			}
			fields = log.G(ctx).Data
			return nil, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"sandbox": "sb1", "container": "c1", "exec": "e1"} {
		if fields[k] != want {
			t.Errorf("log field %s = %v, want %s", k, fields[k], want)
		}
	}
}

func TestGRPCFields(t *testing.T) {
	var fields logrus.Fields
	GRPC(context.Background(), &sandboxapi.ControllerStatusRequest{SandboxID: "sb2"}, &grpc.UnaryServerInfo{}, //nolint:errcheck
		func(ctx context.Context, _ any) (any, error) { fields = log.G(ctx).Data; return nil, nil })
	if fields["sandbox"] != "sb2" {
		t.Errorf("log field sandbox = %v", fields["sandbox"])
	}
}
