// httpd is the demo web service: a Go GOOS=wasip1 program serving
// net/http on the listening sockets its runtime preopened (the descriptors
// after the preopened directories, one per container port, in order).
//
//	GET  /         a greeting naming the host asked for, the request count
//	               and $HOSTNAME (CRI sets it to the pod's name)
//	GET  /healthz  "ok" (readiness and liveness probes); 503 once /sick
//	POST /echo     "<n> bytes\n", n the size of the request body
//	POST /sick     /healthz fails from now on (liveness tests)
//	GET  /exit?code=N  ends the program with exit code N (tests)
//
// -delay D waits D before serving: connections queue on the preopened
// socket unanswered, as behind a slow start, so readiness probes fail
// until then. With no preopened socket it says so and exits 2.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// listeners returns the preopened listening sockets: the descriptors
// listenFDs names that are neither directories (the preopened dirs come
// first) nor missing. The runtime hands them over blocking, as a POSIX
// program inherits a socket; Go's net package waits in its poller, so each
// is made non-blocking first (as under wasmtime or wazero run -listen).
func listeners() []net.Listener {
	var out []net.Listener
	for _, fd := range listenFDs() {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			break
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			continue
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			continue
		}
		ln, err := net.FileListener(os.NewFile(uintptr(fd), "listener"+strconv.Itoa(fd)))
		if err != nil {
			fmt.Fprintf(os.Stderr, "httpd: descriptor %d: %v\n", fd, err)
			continue
		}
		out = append(out, ln)
	}
	return out
}

func main() {
	delay := flag.Duration("delay", 0, "wait this long before serving")
	flag.Parse()
	lns := listeners()
	if len(lns) == 0 {
		fmt.Fprintln(os.Stderr, "httpd: no preopened listening socket (give the container a port)")
		os.Exit(2)
	}
	var requests atomic.Int64
	var sick atomic.Bool
	host := os.Getenv("HOSTNAME")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		fmt.Fprintf(w, "hello from wasm (request %d, %s) on %s\n", n, r.Host, host)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		io.WriteString(w, "/healthz fails from now on\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d bytes\n", n)
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		io.WriteString(w, "bye\n")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		os.Exit(code)
	})
	if *delay > 0 {
		fmt.Printf("httpd: waiting %v before serving\n", *delay)
		time.Sleep(*delay)
	}
	fmt.Printf("httpd: serving on %d listener(s)\n", len(lns))
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- http.Serve(ln, mux) }()
	}
	fmt.Fprintln(os.Stderr, "httpd:", <-errc)
	os.Exit(1)
}
