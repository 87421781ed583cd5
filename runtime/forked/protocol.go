// Package forked runs each Wasm module in its own confined worker process:
// new user, mount, pid, ipc and uts namespaces, the pod's network namespace,
// a root holding only the container's rootfs and mounts, no capabilities,
// no_new_privs, a seccomp allow-list, rlimits and the container's cgroup.
// A bug in the JIT or a side channel then reaches one worker, not the host
// or another tenant.
//
// The daemon side (Runtime) and the worker side (WorkerMain, run by the
// wasm-sandboxer-worker binary) talk over a socketpair, one JSON message
// per line.
package forked

import (
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// File descriptors a worker starts with, besides stdio (/dev/null).
const (
	fdControl = 3 // the socketpair to the daemon
	fdModule  = 4 // a sealed memfd with the module's bytes
)

// job is the first message: everything a worker needs, as host paths; the
// worker opens and binds them before it pivots into its new root.
type job struct {
	ID       string          `json:"id"`
	Config   wasispec.Config `json:"config"`
	Rootfs   string          `json:"rootfs"`
	NewRoot  string          `json:"newRoot"`  // an empty dir the worker mounts its root on
	CacheDir string          `json:"cacheDir"` // compiled code, bound read-only; may be empty
	Stdin    string          `json:"stdin"`
	Stdout   string          `json:"stdout"`
	Stderr   string          `json:"stderr"`
	// AllowSockets lets the module's process create sockets (WASI preview
	// 1 modules only use sockets they were given, so never by default).
	AllowSockets bool `json:"allowSockets,omitempty"`
}

// message is every later message, in either direction.
type message struct {
	Ready      bool   `json:"ready,omitempty"`      // worker: confined, compiled, waiting
	Error      string `json:"error,omitempty"`      // worker: setup failed
	Start      bool   `json:"start,omitempty"`      // daemon: run the module
	CloseStdin bool   `json:"closeStdin,omitempty"` // daemon: no more input
	Exit       *exit  `json:"exit,omitempty"`       // worker: the module ended
}

type exit struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// Guest paths of the worker's root after pivot_root.
const (
	rootfsDir = "/rootfs"
	mountsDir = "/m"
	cacheDir  = "/cache"
)
