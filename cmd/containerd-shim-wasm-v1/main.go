// Command containerd-shim-wasm-v1 is the runtime binary containerd resolves
// for runtime type io.containerd.wasm.v1. Tasks run in the wasm-sandboxer
// daemon; this binary only answers containerd's "delete" for a task whose
// daemon connection dropped (it unmounts the task's rootfs), and keeps the
// runtime resolvable so containerd does not drop tasks on its own restart.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/core/mount"
	shim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/version"
)

// runtimeName is the containerd runtime type this binary stands for.
const runtimeName = "io.containerd.wasm.v1"

// exitDaemonGone is reported for a task whose daemon went away: like a
// process killed by SIGKILL.
const exitDaemonGone = 137

type manager struct{}

func (manager) Name() string { return runtimeName }

// Start is containerd's "start a shim" call: tasks of this runtime are
// served by the wasm-sandboxer daemon through the sandbox API.
func (manager) Start(ctx context.Context, _ *bootapi.BootstrapParams) (*bootapi.BootstrapResult, error) {
	return nil, fmt.Errorf("%s runs tasks in the wasm-sandboxer daemon through containerd's sandbox API (CRI runtime with sandboxer = \"wasm\"): it cannot start a standalone shim: %w", runtimeName, errdefs.ErrNotImplemented)
}

// Stop cleans up after a task whose daemon connection dropped: its rootfs
// was mounted by the daemon and must not stay mounted.
func (manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	bundle := ctx.Value(shim.OptsKey{}).(shim.Opts).BundlePath
	if bundle == "" {
		var err error
		if bundle, err = os.Getwd(); err != nil {
			return shim.StopStatus{}, err
		}
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if err := mount.UnmountRecursive(rootfs, 0); err != nil {
		log.G(ctx).WithError(err).WithField("rootfs", rootfs).Warn("unmount rootfs")
	}
	return shim.StopStatus{ExitStatus: exitDaemonGone, ExitedAt: time.Now()}, nil
}

func (manager) Info(ctx context.Context, _ io.Reader) (*types.RuntimeInfo, error) {
	return &types.RuntimeInfo{Name: runtimeName, Version: &types.RuntimeVersion{Version: version.Version}}, nil
}

func main() {
	shim.RunShim(context.Background(), manager{})
}
