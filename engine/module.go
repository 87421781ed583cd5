package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// MaxModuleBytes bounds the size of a module file read from a rootfs.
const MaxModuleBytes = 256 << 20

// wasmMagic is the first four bytes of every Wasm binary; a component's
// next four (version and layer) are componentVersion.
var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d}

const componentVersion = "\x0d\x00\x01\x00"

// Module is a resolved module, not read yet when it came from an image
// layer (a compile-cache hit needs no bytes).
type Module struct {
	Digest string // the compile-cache key
	Name   string // for messages: its rootfs path, or its layer
	// RootfsPath is its path in the rootfs, empty when it came from an
	// image layer.
	RootfsPath string
	// Load returns the module's bytes, checked (CheckBinary).
	Load func() ([]byte, error)
}

// Find resolves args[0] of cfg: a file in the rootfs (absolute, PATH,
// cwd), else a module layer of the container's image (image may be nil).
func Find(ctx context.Context, root *confinedfs.FS, cfg wasispec.Config, containerID string, image imagemodule.Source) (Module, error) {
	guestPath, lookErr := root.LookPath(cfg.Args[0], cfg.Cwd, cfg.Path)
	if lookErr == nil {
		bin, err := ReadModule(root, guestPath)
		if err != nil {
			return Module{}, err
		}
		return Module{Digest: Digest(bin), Name: guestPath, RootfsPath: guestPath,
			Load: func() ([]byte, error) { return bin, nil }}, nil
	}
	if image != nil {
		m, err := image.Module(ctx, containerID, cfg.Args[0])
		if err == nil {
			return Module{Digest: m.Digest, Name: m.Name, Load: func() ([]byte, error) {
				bin, err := m.Read(ctx)
				if err != nil {
					return nil, err
				}
				return bin, CheckBinary(m.Name, bin)
			}}, nil
		}
		if !errkind.IsNotFound(err) {
			return Module{}, fmt.Errorf("module %s from the image: %w", cfg.Args[0], err)
		}
	}
	return Module{}, fmt.Errorf("module: %v: %w", lookErr, errkind.NotFound)
}

// ReadModule reads the module at guestPath through the confined root (so
// symlinks resolve inside it), refusing one above MaxModuleBytes and
// anything that is not a core Wasm module.
func ReadModule(root *confinedfs.FS, guestPath string) ([]byte, error) {
	f, err := root.Open(guestPath)
	if err != nil {
		return nil, fmt.Errorf("module %s: %v: %w", guestPath, err, errkind.NotFound)
	}
	defer f.Close()
	return readChecked(guestPath, f)
}

// readChecked reads a module from r, refusing one above MaxModuleBytes and
// anything that is not a core Wasm module.
func readChecked(name string, r io.Reader) ([]byte, error) {
	bin, err := io.ReadAll(io.LimitReader(r, MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", name, err)
	}
	if len(bin) > MaxModuleBytes {
		return nil, fmt.Errorf("module %s is larger than %d bytes: %w", name, MaxModuleBytes, errkind.InvalidArgument)
	}
	return bin, CheckBinary(name, bin)
}

// ReadModuleFrom reads a module from r (a file the host staged, e.g. an
// image layer in a forked worker's job dir), with ReadModule's checks.
func ReadModuleFrom(name string, r io.Reader) ([]byte, error) { return readChecked(name, r) }

// Digest is the compile-cache key of a module read from a rootfs.
func Digest(bin []byte) string {
	sum := sha256.Sum256(bin)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckBinary refuses what is not a core Wasm module with a clear error.
func CheckBinary(name string, bin []byte) error {
	if len(bin) < 8 || string(bin[:4]) != string(wasmMagic) {
		return fmt.Errorf("%s is not a WebAssembly module (no \\0asm magic): %w", name, errkind.InvalidArgument)
	}
	if string(bin[4:8]) == componentVersion {
		return fmt.Errorf("%s is a WebAssembly component: components (WASI preview 2) are not supported, only core modules (WASI preview 1): %w", name, errkind.NotImplemented)
	}
	return checkLocals(name, bin)
}

// CheckMemory refuses a module whose initial memory is above the limit:
// it could never start.
func CheckMemory(m wazero.CompiledModule, limitPages uint32) error {
	var mems []api.MemoryDefinition
	for _, d := range m.ExportedMemories() {
		mems = append(mems, d)
	}
	mems = append(mems, m.ImportedMemories()...)
	for _, d := range mems {
		if d.Min() > limitPages {
			return fmt.Errorf("needs %d Wasm pages of memory at start, above its limit of %d pages: %w", d.Min(), limitPages, errkind.ResourceExhausted)
		}
	}
	return nil
}
