// Command containerd-shim-wasm-v1 is the runtime binary containerd resolves
// for runtime type io.containerd.wasm.v1.
//
// containerd runs it with `delete` after every task delete, not only after
// a dead shim (closing a task's ttrpc connection fires containerd's
// dead-shim cleanup). When the task was deleted through the task API, the
// daemon left its answer in the bundle (package deletemark) and this binary
// prints it and exits: it links the standard library alone, so that costs
// a process start of about a millisecond instead of the full runtime
// binary's 6–9 ms. Every other call (start, a delete with cleanup to do,
// -info, -v) is handed to `wasm-sandboxer runtime-binary` (package
// runtimebin) by exec, found next to this binary or else on PATH.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/deletemark"
)

// daemonBinary is the binary that does the runtime binary's work.
const daemonBinary = "wasm-sandboxer"

// binaryEnv names the daemon binary when it is neither next to this binary
// nor on PATH.
const binaryEnv = "WASM_SANDBOXER_BINARY"

func main() {
	if ok, err := answerDelete(os.Args[1:], os.Stdout); ok || err != nil {
		if err != nil {
			fmt.Fprintf(os.Stderr, "containerd-shim-wasm-v1: %v\n", err)
			os.Exit(1)
		}
		return
	}
	self, _ := os.Executable()
	bin, err := findDaemon(self)
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-wasm-v1: %v\n", err)
		os.Exit(1)
	}
	argv := append([]string{daemonBinary, "runtime-binary"}, os.Args[1:]...)
	err = syscall.Exec(bin, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "containerd-shim-wasm-v1: exec %s: %v\n", bin, err)
	os.Exit(1)
}

// answerDelete handles a `delete` of a task deleted through the task API:
// it copies the bundle's delete record to out and reports true. Any other
// call is not its to answer (false, nil).
func answerDelete(args []string, out io.Writer) (bool, error) {
	// The flags containerd's shim protocol passes (pkg/shim), so that the
	// action after them is found; only -bundle is used here.
	fs := flag.NewFlagSet("containerd-shim-wasm-v1", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("debug", false, "")
	fs.Bool("v", false, "")
	fs.Bool("info", false, "")
	for _, name := range []string{"namespace", "id", "socket", "address", "publish-binary"} {
		fs.String(name, "", "")
	}
	bundle := fs.String("bundle", "", "")
	if fs.Parse(args) != nil || fs.Arg(0) != "delete" {
		return false, nil // the full runtime binary answers, and says what was wrong
	}
	dir := *bundle
	if dir == "" {
		dir = "." // containerd runs delete in the bundle
	}
	rec, err := deletemark.Read(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = out.Write(rec)
	return err == nil, err
}

// findDaemon locates the daemon binary: $WASM_SANDBOXER_BINARY, next to
// self (this binary's path, when known), or on PATH.
func findDaemon(self string) (string, error) {
	if p := os.Getenv(binaryEnv); p != "" {
		return p, nil
	}
	var tried []string
	if self != "" {
		p := filepath.Join(filepath.Dir(self), daemonBinary)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
		tried = append(tried, p)
	}
	p, err := exec.LookPath(daemonBinary)
	if err == nil {
		return p, nil
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("%s not found (looked at %v; set %s to its path): it does this runtime binary's work and must be installed with it", daemonBinary, tried, binaryEnv)
}
