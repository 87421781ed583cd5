// Command wasm-sandboxer-worker runs one Wasm module for the forked runtime
// of wasm-sandboxer, confined. The daemon starts it in new namespaces with
// a control socket on fd 3 and the module on fd 4; it is not for people to
// run. It is built without cgo, so per-thread attributes (capabilities,
// no_new_privs) can be set on every thread.
package main

import (
	"os"

	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/forked"
)

func main() {
	os.Exit(forked.WorkerMain())
}
