package wasisock

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

// TestReflectionHolds pins what this package reaches in wazero by
// reflection (the module's descriptor table) against the wazero version
// in go.mod, with no Go toolchain: listeners land right after stdio and
// the preopened directories, a lookup finds them, an accepted connection
// goes into the table, and a kill (Wake) ends a blocking accept.
func TestReflectionHolds(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	Export(b)
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	compiled, err := rt.CompileModule(ctx, tiny.Modules()["hello.wasm"])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	runCtx, kill := context.WithCancel(ctx)
	defer kill()
	set, err := NewSet(runCtx, []*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	cfg := wazero.NewModuleConfig().WithStartFunctions().
		WithFSConfig(wazero.NewFSConfig().WithDirMount(t.TempDir(), "/").WithDirMount(t.TempDir(), "/data"))
	mod, err := rt.InstantiateModule(set.Context(runCtx), compiled, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	fds, err := set.Attach(mod)
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 1 || fds[0] != 5 {
		t.Fatalf("listener descriptors %v, want [5] (after stdio and two preopened dirs)", fds)
	}
	file, ok := set.lookupFile(5)
	l, isListener := file.(*listener)
	if !ok || !isListener {
		t.Fatalf("lookup of 5: %T, %v", file, ok)
	}
	if f, ok := set.lookupFile(3); !ok || f == nil {
		t.Fatal("lookup of the preopened / failed")
	}
	if _, ok := set.lookupFile(9); ok {
		t.Fatal("lookup of a descriptor never opened succeeded")
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, errno := l.accept(false)
	if errno != 0 {
		t.Fatal(errno)
	}
	nfd, errno := set.insert(conn)
	if errno != 0 || nfd != 6 {
		t.Fatalf("accepted connection at %d, %v; want 6", nfd, errno)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if n, errno := conn.Read(buf); errno != 0 || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], errno)
	}

	// A blocking accept waits in the kernel; the kill ends it.
	done := make(chan experimentalsys.Errno, 1)
	go func() {
		_, errno := l.accept(false)
		done <- errno
	}()
	time.Sleep(100 * time.Millisecond)
	kill()
	select {
	case errno := <-done:
		if errno == 0 {
			t.Fatal("accept after the kill succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocking accept outlived the kill by 5 s")
	}
	// The connection was shut down with it: the peer sees the end.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("peer read %d bytes after the kill", n)
	}
}
