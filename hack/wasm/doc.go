// Package wasm holds the test WebAssembly modules of the project:
//
//   - demo: a Go program built with GOOS=wasip1 GOARCH=wasm that behaves like
//     runwasi's wasi-demo-app (echo, sleep, exit, write, cat, daemon, ...);
//   - httpd: the demo web service, net/http on the listening sockets the
//     runtime preopens for the container's ports (/, /healthz, /echo);
//   - rawhttp: the minimal HTTP responder, blocking accept/read/write on
//     the first preopened listener (no poll_oneoff), for the benchmark;
//   - tinygen: a host program that hand-assembles tiny WASI preview 1 modules
//     (hello, trap, spin, exit42).
//
// build.sh builds all of them into a directory. The tests in this package
// build the demo and run it under wazero.
package wasm
