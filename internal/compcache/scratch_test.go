package compcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/wasm-sandboxer/wasm-sandboxer/hack/wasm/tiny"
)

func runOnce(t *testing.T, dir string, bin []byte) error {
	ctx := context.Background()
	cc, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close(ctx)
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cc))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, bin)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	_, err = r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStdout(&out))
	fmt.Fprintf(os.Stderr, "\n"+"out=%q err=%v", out.String(), err)
	return nil
}

func TestScratch(t *testing.T) {
	bin := tiny.Modules()["hello.wasm"]
	c := os.Getenv("CASE"); {
		dir := t.TempDir()
		if err := runOnce(t, dir, bin); err != nil {
			t.Fatal(err)
		}
		var f string
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if !fi.IsDir() {
				f = p
			}
			return nil
		})
		b, _ := os.ReadFile(f)
		hdr := 6 + 1 + int(b[6]) + 4
		nf := binary.LittleEndian.Uint32(b[hdr-4:])
		execOff := hdr + 8*int(nf) + 8
		execLen := binary.LittleEndian.Uint64(b[execOff-8:])
		fmt.Fprintf(os.Stderr, "\n"+"%s: file %s size %d nfuncs %d execLen %d tail %d", c, filepath.Base(f), len(b), nf, execLen, len(b)-execOff-int(execLen))
		switch c {
		case "magic":
			b[0] ^= 0xff
		case "exec":
			b[execOff+int(execLen)/2] ^= 0xff
		case "offset":
			b[hdr] += 3
		case "trunc-exec":
			b = b[:execOff+int(execLen)/2]
		case "trunc-tail":
			b = b[:len(b)-4]
		case "version":
			b[8] = 'X'
		case "tailbyte":
			b[len(b)-1] = 0x7f
		}
		os.WriteFile(f, b, 0o600)
		err := runOnce(t, dir, bin)
		_, serr := os.Stat(f)
		fmt.Fprintf(os.Stderr, "\n"+"%s: second compile err=%v; file exists: %v", c, err, serr == nil)
	}
}
