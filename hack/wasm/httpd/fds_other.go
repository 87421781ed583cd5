//go:build !wasip1

package main

import (
	"os"
	"strconv"
)

// listenFDs, built natively (the benchmark's ceiling), are the
// descriptors from 3 a parent passed, LISTEN_FDS of them (default 1), as
// systemd's socket activation does: scanning past them would reach the Go
// runtime's own descriptors.
func listenFDs() []int {
	n := 1
	if v, err := strconv.Atoi(os.Getenv("LISTEN_FDS")); err == nil && v > 0 {
		n = v
	}
	var fds []int
	for i := range n {
		fds = append(fds, 3+i)
	}
	return fds
}
