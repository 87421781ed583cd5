// Command wasm-sandboxer-worker runs one Wasm module for the forked runtime
// of wasm-sandboxer, confined. A pod server starts it in new namespaces
// with a control socket on fd 3; it is not for people to run. It is built
// without cgo, so per-thread attributes (capabilities, no_new_privs) can be
// set on every thread, and links only package worker and what it needs
// (deps_test.go pins that).
package main

import (
	"os"

	"github.com/wasm-sandboxer/wasm-sandboxer/worker"
)

func main() {
	os.Exit(worker.Main())
}
