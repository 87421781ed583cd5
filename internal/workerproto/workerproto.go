// Package workerproto is the protocol between the forked runtime
// (runtime/forked, in a pod server) and its workers (package worker, the
// wasm-sandboxer-worker program): one JSON message per line over a
// socketpair, and the layout of a job dir. It is small and links nothing
// but the standard library and wasispec, since the worker links it.
//
// The forked runtime runs each Wasm module in its own confined worker process:
// new user, mount, pid, ipc, uts and network namespaces (the pod's network
// joined), a root holding only the container's rootfs and mounts, no
// capabilities, no_new_privs, a seccomp allow-list, rlimits and the
// container's cgroup. A bug in the JIT or a side channel then reaches one
// worker, not the host or another tenant.
//
// Workers confine themselves completely before they get a job, so a pool
// of idle ones can wait: a worker's root is a small tmpfs whose /job
// directory is a mount-propagation slave of a directory of the daemon's.
// To hand a worker a job, the daemon bind-mounts the container's rootfs,
// its mounts and its stdio fifos there (they propagate into the worker's
// root) and sends one message.
//
// The daemon side (forked.Runtime) and the worker side (worker.Main, run
// by the wasm-sandboxer-worker binary) talk over a socketpair, one JSON
// message per line.
package workerproto

import (
	"path/filepath"
	"strconv"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// FDControl is the socketpair to the daemon, in the worker.
const FDControl = 3

// Hello is the first message: what a worker needs to confine itself.
type Hello struct {
	NewRoot  string `json:"newRoot"`  // an empty dir the worker mounts its root on
	JobDir   string `json:"jobDir"`   // the daemon's dir that becomes the worker's /job
	CacheDir string `json:"cacheDir"` // compiled code, bound read-only; may be empty
	// AllowSockets lets the module's process create sockets (WASI preview
	// 1 modules only use sockets they were given, so never by default).
	AllowSockets bool `json:"allowSockets,omitempty"`
	// TestHook asks a worker built with -tags workertesthook to play a
	// compromised runtime right after confinement; other builds ignore it.
	TestHook bool `json:"testHook,omitempty"`
}

// Job is a module to run; its files are under /job in the worker.
type Job struct {
	ID     string          `json:"id"`
	Config wasispec.Config `json:"config"`
	// RootfsModule is the module's path in the rootfs; empty when the
	// module came from an image layer and is /job/module.wasm instead.
	RootfsModule string `json:"rootfsModule,omitempty"`
	Stdin        bool   `json:"stdin,omitempty"` // /job/stdin is the stdin fifo
	Stdout       bool   `json:"stdout,omitempty"`
	Stderr       bool   `json:"stderr,omitempty"`
	// Listeners is how many listening sockets came with this message (as
	// SCM_RIGHTS, in order): the module's preopened sockets.
	Listeners int `json:"listeners,omitempty"`
}

// Message is every later message, in either direction.
type Message struct {
	Idle       bool   `json:"idle,omitempty"`       // worker: confined, waiting for a job
	Job        *Job   `json:"job,omitempty"`        // daemon: run this
	Ready      bool   `json:"ready,omitempty"`      // worker: compiled, waiting for start
	Compiled   bool   `json:"compiled,omitempty"`   // worker: with Ready, the shared cache missed
	Error      string `json:"error,omitempty"`      // worker: setup failed
	Start      bool   `json:"start,omitempty"`      // daemon: run the module
	CloseStdin bool   `json:"closeStdin,omitempty"` // daemon: no more input
	// MemoryLimit, from the daemon, is the module's new linear memory cap
	// in bytes (an Update); 0: no change.
	MemoryLimit uint64 `json:"memoryLimit,omitempty"`
	Exit        *Exit  `json:"exit,omitempty"` // worker: the module ended
}

// Exit is how the module ended, as the worker saw it.
type Exit struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason,omitempty"`
	OOM    bool   `json:"oom,omitempty"` // the linear memory limit was hit
}

// Paths in the worker's root after pivot_root, and names in a job dir.
const (
	JobDir     = "/job"
	CacheDir   = "/cache"
	RootfsDir  = "rootfs"      // in the job dir
	MountsDir  = "m"           // in the job dir: m/0, m/1… are the preopens
	ModuleFile = "module.wasm" // in the job dir
)

// PreopenDir is where preopen i of a job is, under a job dir (the daemon's
// path of it, or the worker's /job).
func PreopenDir(dir string, i int) string {
	return filepath.Join(dir, MountsDir, strconv.Itoa(i))
}
