package main

// listenFDs are the descriptors that may be listeners under WASI: every
// one from 3 (the preopened dirs, then the sockets), up to the first that
// does not exist.
func listenFDs() []int {
	var fds []int
	for fd := 3; fd < 3+128; fd++ {
		fds = append(fds, fd)
	}
	return fds
}
