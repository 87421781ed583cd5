// Package podserver is the pod server: the process that holds a forked
// sandbox's task endpoint (package endpoint) and runs its modules in the
// forked runtime. The daemon's side spawns it (Spawner, with its Config as
// one JSON document), waits for its ready report, and talks to it over
// the endpoint's control API (Client); the pod server's side is Main.
//
// A forked sandbox's endpoint lives in a pod server process of its own,
// not in the daemon: containerd drops a sandboxed task the moment its
// ttrpc connection closes (core/runtime/v2 cleanupAfterDeadShim), so only
// an endpoint held by a process that outlives the daemon lets a forked
// task survive a daemon kill -9. The restarted daemon re-attaches to the
// pod server over the same socket (docs/RATIONALE.md, "Why does a forked
// pod have a process of its own?").
package podserver
