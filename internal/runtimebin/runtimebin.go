// Package runtimebin is the work of the runtime binary containerd
// resolves for runtime type io.containerd.wasm.v1 (containerd-shim-wasm-v1).
// That binary answers the one hot call itself (a `delete` after a task
// deleted through the task API, package deletemark) and hands everything
// else to this package, run as `wasm-sandboxer runtime-binary ARGS…`. No
// shim process stays behind:
//
//   - start (ctr run --runtime io.containerd.wasm.v1): asks the running
//     wasm-sandboxer daemon for a sandbox for the container (the pod's, when
//     the container names a CRI sandbox the daemon knows; else one made for
//     this container) and prints bootstrap data pointing containerd at the
//     daemon's task API v3 endpoint;
//   - delete: cleans up after a task whose daemon connection dropped with
//     the task still in it (its one-task sandbox) and reports it exited;
//
// and it keeps the runtime resolvable, so containerd does not drop tasks on
// its own restart.
package runtimebin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/version"
)

// runtimeName is the containerd runtime type this binary stands for.
const runtimeName = "io.containerd.wasm.v1"

// exitDaemonGone is reported for a task whose daemon went away: like a
// process killed by SIGKILL.
const exitDaemonGone = 137

// socketEnv names the daemon's socket when it is not
// sandboxapi.DefaultSocket (containerd passes its environment to runtime
// binaries).
const socketEnv = "WASM_SANDBOXER_SOCKET"

// annotationCRISandboxID names the pod a CRI container belongs to.
const annotationCRISandboxID = "io.kubernetes.cri.sandbox-id"

type manager struct{}

func (manager) Name() string { return runtimeName }

func socketPath() string {
	if s := os.Getenv(socketEnv); s != "" {
		return s
	}
	return sandboxapi.DefaultSocket
}

// dial connects to the daemon, failing at once with what to do when it is
// not running.
func dial() (api.ControllerClient, io.Closer, error) {
	sock := socketPath()
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("wasm-sandboxer is not running (cannot connect to %s: %v): start it with `wasm-sandboxer --listen %s`, or set %s in containerd's environment to the socket it listens on: %w",
			sock, errors.Unwrap(err), sock, socketEnv, errdefs.ErrUnavailable)
	}
	c.Close()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	return api.NewControllerClient(conn), conn, nil
}

// Start is run with the task's bundle as working directory.
func (manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	id, ns := params.GetInstanceID(), params.GetNamespace()
	client, conn, err := dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, ns), 30*time.Second)
	defer cancel()

	// A CRI container whose pod the daemon runs joins that pod.
	if pod := criSandboxID(); pod != "" && pod != id {
		st, err := client.Status(ctx, &api.ControllerStatusRequest{SandboxID: pod})
		if err == nil && st.State == sandboxapi.StateReady {
			return result(st.Address)
		}
	}
	_, err = client.Create(ctx, &api.ControllerCreateRequest{
		SandboxID:   id,
		Annotations: map[string]string{sandboxapi.AnnotationOwner: sandboxapi.OwnerTask},
	})
	if err != nil && !errdefs.IsAlreadyExists(errgrpc.ToNative(err)) {
		return nil, fmt.Errorf("create sandbox for %s: %w", id, errgrpc.ToNative(err))
	}
	resp, err := client.Start(ctx, &api.ControllerStartRequest{SandboxID: id})
	if err != nil {
		return nil, fmt.Errorf("start sandbox for %s: %w", id, errgrpc.ToNative(err))
	}
	return result(resp.Address)
}

// result turns the daemon's "ttrpc+unix:///path" into bootstrap data.
func result(address string) (*bootapi.BootstrapResult, error) {
	proto, addr, ok := strings.Cut(address, "+")
	if !ok || proto != "ttrpc" {
		return nil, fmt.Errorf("daemon returned task address %q, want ttrpc+unix://…: %w", address, errdefs.ErrInternal)
	}
	return &bootapi.BootstrapResult{Version: sandboxapi.TaskAPIVersion, Protocol: proto, Address: addr}, nil
}

// criSandboxID reads the pod id from the bundle's config.json, if any.
func criSandboxID() string {
	b, err := os.ReadFile("config.json")
	if err != nil {
		return ""
	}
	var spec specs.Spec
	if json.Unmarshal(b, &spec) != nil {
		return ""
	}
	return spec.Annotations[annotationCRISandboxID]
}

// Stop cleans up after a task whose daemon connection dropped: a sandbox
// made for this one task goes with it when the daemon is back. Its rootfs,
// which the daemon mounted, containerd unmounts itself once this returns
// (binary.Delete, then Bundle.Delete in core/runtime/v2).
func (manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	shutdownOwnSandbox(ctx, id)
	log.G(ctx).WithFields(log.Fields{"id": id, "exit": exitDaemonGone}).
		Warn("the task's endpoint went away with its module (wasm-sandboxer stopped with goroutine-mode modules running, or a forked pod's pod server died): task reported exited")
	return shim.StopStatus{ExitStatus: exitDaemonGone, ExitedAt: time.Now()}, nil
}

// shutdownOwnSandbox removes the sandbox the ctr path made for task id, if
// the daemon answers and knows it; a pod's sandbox is never touched.
func shutdownOwnSandbox(ctx context.Context, id string) {
	client, conn, err := dial()
	if err != nil {
		return
	}
	defer conn.Close()
	// shim.RunShim put the -namespace flag's value in ctx.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := client.Status(ctx, &api.ControllerStatusRequest{SandboxID: id, Verbose: true})
	if err != nil || st.Info[sandboxapi.InfoOwner] != sandboxapi.OwnerTask {
		return
	}
	if _, err := client.Shutdown(ctx, &api.ControllerShutdownRequest{SandboxID: id}); err != nil {
		log.G(ctx).WithError(err).WithField("sandbox", id).Warn("shut down task sandbox")
	}
}

func (manager) Info(ctx context.Context, _ io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{Name: runtimeName, Version: &types.RuntimeVersion{Version: version.Version}}, nil
}

// Main runs the runtime binary's action; args are the arguments containerd
// gave the runtime binary (flags, then the action).
func Main(args []string) {
	// shim.RunShim parses the process's own command line.
	os.Args = append([]string{"containerd-shim-wasm-v1"}, args...)
	shim.RunShim(context.Background(), manager{})
}
