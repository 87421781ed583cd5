package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sock"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// BenchmarkRawResponder times one keep-alive request to the raw responder
// (hack/wasm/rawhttp) served through engine/wasisock, and through
// wazero's own listener (experimental/sock, what `wazero run -listen`
// does), in one process: the in-process twin of figure 8's raw rows.
//
//	go test -run - -bench RawResponder ./engine/
func BenchmarkRawResponder(b *testing.B) {
	bin := buildModule(b, "rawhttp")
	b.Run("wasisock", func(b *testing.B) {
		s := serve(b, bin)
		requests(b, fmt.Sprintf("127.0.0.1:%d", s.port))
	})
	b.Run("wazero-listen", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
		defer rt.Close(context.Background())
		defer cancel()
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		compiled, err := rt.CompileModule(ctx, bin)
		if err != nil {
			b.Fatal(err)
		}
		port := freePort(b)
		go rt.InstantiateModule(sock.WithConfig(ctx, sock.NewConfig().WithTCPListener("127.0.0.1", int(port))), compiled, wazero.NewModuleConfig())
		requests(b, fmt.Sprintf("127.0.0.1:%d", port))
	})
}

// requests sends b.N requests on one keep-alive connection to addr.
func requests(b *testing.B, addr string) {
	var c net.Conn
	var err error
	for range 100 {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b.ResetTimer()
	for range b.N {
		c.Write(req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
