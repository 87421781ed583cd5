// Package imagemodule names a module that a container's image carries as a
// layer (runwasi's wasm-layer images, the CNCF Wasm artifact), and what
// finds one. It is a leaf: the runtime contract, the engine (linked by the
// confined worker) and the daemon's content-store lookup all use it.
package imagemodule

import "context"

// Source finds the module a container's image carries as a layer.
type Source interface {
	// Module returns the module for containerID and its argv[0]. Errors
	// are of the not-found kind (errdefs.IsNotFound) when the image
	// carries no module layer.
	Module(ctx context.Context, containerID, arg0 string) (Module, error)
}

// Module is a module stored in containerd's content store.
type Module struct {
	// Digest is the layer digest ("sha256:…"), the compile-cache key.
	Digest string
	// Name describes the module in logs and errors.
	Name string
	// Read returns the module's bytes; only called on a cache miss.
	Read func(ctx context.Context) ([]byte, error)
}
