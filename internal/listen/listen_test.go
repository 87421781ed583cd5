package listen_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/listen"
)

// freePort returns a port nobody listens on now.
func freePort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestOpenServesAndFreesThePort(t *testing.T) {
	p := freePort(t)
	files, err := listen.Open("", []uint16{p}, listen.Owner{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(files[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"127.0.0.1", "[::1]"} {
		c, err := net.Dial("tcp", addr+":"+itoa(p))
		if err != nil {
			if addr == "[::1]" && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 here
			}
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	ln.Close()
	listen.Close(files)
	again, err := listen.Open("", []uint16{p}, listen.Owner{})
	if err != nil {
		t.Fatalf("port %d not free again after Close: %v", p, err)
	}
	listen.Close(again)
}

func TestOpenErrorsNameThePort(t *testing.T) {
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := uint16(busy.Addr().(*net.TCPAddr).Port)
	free := freePort(t)
	_, err = listen.Open("", []uint16{free, inUse}, listen.Owner{})
	if err == nil || !errors.Is(err, errdefs.ErrAlreadyExists) || !strings.Contains(err.Error(), "port "+itoa(inUse)+": already in use") {
		t.Fatalf("port in use: err = %v", err)
	}
	// The first port's socket was closed with the failure.
	files, err := listen.Open("", []uint16{free}, listen.Owner{})
	if err != nil {
		t.Fatalf("port %d kept after a failed Open: %v", free, err)
	}
	listen.Close(files)

	_, err = listen.Open("", []uint16{80}, listen.Owner{UID: 1000})
	if err == nil || !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), "port 80: privileged") {
		t.Fatalf("privileged port: err = %v", err)
	}
	_, err = listen.Open("", []uint16{0}, listen.Owner{})
	if err == nil || !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("port 0: err = %v", err)
	}
	if _, err := listen.Open("/nonexistent/netns", []uint16{free}, listen.Owner{}); err == nil {
		t.Fatal("Open in a missing namespace succeeded")
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
