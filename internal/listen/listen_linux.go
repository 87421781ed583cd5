// Package listen opens a container's TCP listeners in its pod's network
// namespace, before its module starts: the runtime, not the module, binds
// (WASI preview 1 has no bind), and the module gets the sockets as
// preopened descriptors after its preopened directories (package
// engine/wasisock). Each listener is on every address of the namespace,
// IPv4 and IPv6 where the pod has it (one dual-stack socket on [::], or
// 0.0.0.0 where the kernel has no IPv6).
package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/containerd/errdefs"
)

// Owner is who the module runs as, for the privileged-port check: a
// process that is not root and lacks CAP_NET_BIND_SERVICE may not bind a
// port below the namespace's net.ipv4.ip_unprivileged_port_start.
type Owner struct {
	UID            uint32
	NetBindService bool // CAP_NET_BIND_SERVICE in the spec's effective set
}

// Open makes one listening TCP socket per port in the network namespace
// at netns ("" for the calling process's own, as for a hostNetwork pod),
// in the order given, as files the caller owns (non-blocking,
// close-on-exec). On any error every socket made so far is closed and the
// error names the port and why (errdefs: AlreadyExists for a port in use,
// PermissionDenied for a privileged port, InvalidArgument otherwise).
func Open(netns string, ports []uint16, owner Owner) ([]*os.File, error) {
	if len(ports) == 0 {
		return nil, nil
	}
	type result struct {
		files []*os.File
		err   error
	}
	done := make(chan result, 1)
	go func() {
		if netns != "" {
			// Never unlocked: the thread ends with this goroutine, so no
			// other goroutine ever runs in the pod's namespace.
			runtime.LockOSThread()
			if err := enter(netns); err != nil {
				done <- result{err: err}
				return
			}
		}
		files, err := openHere(ports, owner)
		done <- result{files, err}
	}()
	r := <-done
	return r.files, r.err
}

func enter(netns string) error {
	f, err := os.Open(netns)
	if err != nil {
		return fmt.Errorf("pod network namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("join pod network namespace %s: %w", netns, err)
	}
	return nil
}

// openHere runs on a thread in the target namespace.
func openHere(ports []uint16, owner Owner) (files []*os.File, err error) {
	defer func() {
		if err != nil {
			Close(files)
			files = nil
		}
	}()
	unprivStart := unprivilegedPortStart()
	for _, p := range ports {
		if p == 0 {
			return files, fmt.Errorf("port 0: out of range (1-65535): %w", errdefs.ErrInvalidArgument)
		}
		if int(p) < unprivStart && owner.UID != 0 && !owner.NetBindService {
			return files, fmt.Errorf("port %d: privileged (below the pod's net.ipv4.ip_unprivileged_port_start %d) and the container runs as uid %d without CAP_NET_BIND_SERVICE: %w",
				p, unprivStart, owner.UID, errdefs.ErrPermissionDenied)
		}
		f, err := listenOne(p)
		if err != nil {
			return files, err
		}
		files = append(files, f)
	}
	return files, nil
}

func listenOne(p uint16) (*os.File, error) {
	// net.ListenConfig makes the socket on this goroutine's thread, so in
	// its network namespace; ":port" is one dual-stack socket where the
	// kernel has IPv6.
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", ":"+strconv.Itoa(int(p)))
	if err != nil {
		return nil, explain(p, err)
	}
	defer ln.Close()
	// A dup, and its own file: closing ln leaves it open. Whoever serves
	// it makes it non-blocking (engine/wasisock).
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, fmt.Errorf("port %d: %w", p, err)
	}
	return f, nil
}

func explain(p uint16, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("port %d: already in use in the pod's network namespace: %w", p, errdefs.ErrAlreadyExists)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("port %d: may not be bound here (%v): %w", p, err, errdefs.ErrPermissionDenied)
	}
	return fmt.Errorf("port %d: %v: %w", p, err, errdefs.ErrInvalidArgument)
}

// unprivilegedPortStart reads the sysctl of the calling thread's network
// namespace (1024, the kernel's default, when it cannot be read).
func unprivilegedPortStart() int {
	// /proc/sys/net resolves to the opening thread's network namespace.
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// Close closes every file of a set Open returned.
func Close(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
