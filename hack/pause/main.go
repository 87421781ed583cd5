// Command pause is the benchmarks' stand-in for Kubernetes' pause image
// (there is no registry to pull it from): as a pod's first process it holds
// the pod's namespaces, reaps orphans, and exits 0 on SIGTERM or SIGINT.
// Build it static (CGO_ENABLED=0) and package it with wasm-image -exec.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every exited child
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
