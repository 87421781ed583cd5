// Package podserver serves one sandbox's task API (containerd.task.v3,
// ttrpc) together with a small control API the daemon uses, and spawns,
// re-attaches and cleans up the processes that serve forked sandboxes.
//
// A forked sandbox's endpoint lives in a pod server process of its own,
// not in the daemon: containerd drops a sandboxed task the moment its
// ttrpc connection closes (core/runtime/v2 cleanupAfterDeadShim), so only
// an endpoint held by a process that outlives the daemon lets a forked
// task survive a daemon kill -9. The restarted daemon re-attaches to the
// pod server over the same socket (docs/RATIONALE.md, "Why does a forked
// pod have a process of its own?").
package podserver
