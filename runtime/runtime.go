// Package runtime is the contract between the task service (task/) and
// the runtimes that run Wasm modules: runtime/goroutine (a goroutine per
// module in the daemon) and runtime/forked (a confined worker process per
// module). The task service depends on nothing else of theirs, and a
// runtime's optional abilities (exec, pause, stats, update) are interfaces
// its processes implement or not, as in containerd's core/runtime.
package runtime

import (
	"context"
	"os"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// Runtime starts Wasm modules.
type Runtime interface {
	// Prepare resolves and compiles the module spec describes and returns a
	// process that has not started. Errors wrap errdefs sentinels.
	Prepare(ctx context.Context, spec ProcessSpec) (Process, error)
}

// ProcessSpec is everything a runtime needs to run one module.
type ProcessSpec struct {
	// ID names the process in logs: the container id, or "id/execid".
	ID string
	// ContainerID is the container the process belongs to (image layers
	// are looked up by it); the same as ID for a container's own module.
	ContainerID string
	// Rootfs is the host path of the container's root filesystem.
	Rootfs string
	// Config is the WASI view of the OCI process.
	Config wasispec.Config
	// Stdin, Stdout and Stderr are fifo paths handed over by containerd;
	// any of them may be empty.
	Stdin, Stdout, Stderr string
	// CgroupsPath and Resources are linux.cgroupsPath and
	// linux.resources of the OCI spec (runtimes of real processes use them).
	CgroupsPath string
	Resources   *specs.LinuxResources
	// Image, when set, provides the module from the container's image
	// layers (wasm-layer images, Wasm artifacts) when args[0] is not a
	// file in the rootfs.
	Image imagemodule.Source
	// Listeners are listening TCP sockets the module gets as preopened
	// descriptors after its preopened directories, in order (the
	// container's ports, opened by the task service in the pod's network
	// namespace). Prepare takes them over: the process closes them when
	// the module ends or the process is closed (the caller closes them
	// again, harmlessly, when Prepare fails).
	Listeners []*os.File
}

// Process is one running (or ready to run) module.
type Process interface {
	// Start runs the module in the background.
	Start(ctx context.Context) error
	// Kill ends the module. WASI preview 1 has no signal delivery, so every
	// signal ends it; the exit status is 128+sig.
	Kill(ctx context.Context, sig syscall.Signal) error
	// Done is closed once the module has exited.
	Done() <-chan struct{}
	// Exit is the exit status; valid once Done is closed.
	Exit() Exit
	// Pid is the host process that runs the module.
	Pid() int
	// CloseStdin closes the module's stdin so it reads EOF.
	CloseStdin() error
	// Close releases the process's resources. It must only be called once
	// the process has exited or if it was never started.
	Close() error
}

// Exit describes how a module ended.
type Exit struct {
	Code   uint32
	At     time.Time
	Reason string // empty for a normal exit; else why it was ended
	// OOM is true when the module ended because it hit its memory limit
	// (the task service then publishes TaskOOM before TaskExit).
	OOM bool
}

// Exit codes for ends that are not a proc_exit, documented in
// docs/RATIONALE.md ("Why these exit codes?").
const (
	// ExitTrap is reported when the module traps (unreachable, out of
	// bounds access, stack exhaustion...): 128+SIGABRT, as for a native
	// process that aborts.
	ExitTrap = 134
	// ExitOOM is reported when the module hits its memory limit:
	// 128+SIGKILL, as for a container the kernel OOM-kills.
	ExitOOM = 137
)

// Execer is a container's init Process that can run another module in
// the container's context (an exec: the forked runtime's cgroup, the
// goroutine runtime's memory budget and accounting). spec describes the
// new process; its Rootfs, CgroupsPath and Resources are the container's.
type Execer interface {
	Exec(ctx context.Context, spec ProcessSpec) (Process, error)
}

// Pauser is a Process that can be frozen and thawed (the forked runtime's
// workers; the goroutine runtime's processes are not Pausers).
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// Stater is a Process with resource accounting. Stats returns what
// containerd's runc shim returns, cgroup v1 or v2 Metrics (the types CRI
// decodes), for the whole container when called on its init process
// (execs included), also after the process exited and until Close.
type Stater interface {
	Stats(ctx context.Context) (any, error)
}

// Updater is a Process whose resources can change while it runs. Update
// is called on a container's init process with the container's new
// linux.resources; it applies what the runtime can honour and fails,
// changing nothing, naming any field it cannot (errdefs.ErrNotImplemented)
// or any value it refuses (errdefs.ErrInvalidArgument,
// errdefs.ErrFailedPrecondition).
type Updater interface {
	Update(ctx context.Context, res *specs.LinuxResources) error
}
