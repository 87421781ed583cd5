// Package sandboxapi holds the names the daemon and its clients agree on
// beyond containerd's Sandbox Controller API: where the daemon listens,
// the task API version it serves, the states it reports and the
// annotations and info keys of a sandbox made for one task. It is a leaf:
// the daemon (package sandboxer) and the runtime binary (package
// runtimebin) both import it, and neither imports the other.
package sandboxapi

// DefaultSocket is the controller socket of a daemon started without
// --listen, where its clients look unless told otherwise.
const DefaultSocket = "/run/wasm-sandboxer/sandboxer.sock"

// TaskAPIVersion is the task API version served: 3, so containerd talks to
// the endpoint directly instead of starting a shim binary.
const TaskAPIVersion = 3

// Sandbox states as containerd's CRI expects them in Status.
const (
	StateReady    = "SANDBOX_READY"
	StateNotReady = "SANDBOX_NOTREADY"
)

// AnnotationOwner, set to OwnerTask on Create, marks a sandbox made for a
// single task by containerd-shim-wasm-v1 (the ctr path): it is shut down
// when containerd shuts that task down.
const (
	AnnotationOwner = "io.wasm-sandboxer.owner"
	OwnerTask       = "task"
)

// InfoOwner is the verbose Status info key holding the sandbox's
// AnnotationOwner.
const InfoOwner = "owner"
