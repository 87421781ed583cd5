package main

import (
	"context"
	"errors"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/events"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasmimage"
)

// imageModules reads modules carried as image layers (wasm-layer images,
// Wasm artifacts) from containerd's content store.
type imageModules struct {
	store wasmimage.Store
}

var _ imagemodule.Source = imageModules{}

// containerdClients opens what the daemon and pod servers use of
// containerd: the task event forwarder (to <address>.ttrpc) and the image
// modules (a client of <address>). closeAll releases both.
func containerdClients(address string) (pub *events.Forwarder, images imageModules, closeAll func(), err error) {
	pub, err = events.NewRemote(address + ".ttrpc")
	if err != nil {
		return nil, imageModules{}, nil, fmt.Errorf("events: %w", err)
	}
	images, client, err := newImageModules(address)
	if err != nil {
		pub.Close()
		return nil, imageModules{}, nil, err
	}
	return pub, images, func() { client.Close(); pub.Close() }, nil
}

func newImageModules(address string) (imageModules, interface{ Close() error }, error) {
	c, err := containerd.New(address)
	if err != nil {
		return imageModules{}, nil, fmt.Errorf("containerd client for %s: %w", address, err)
	}
	return imageModules{store: wasmimage.FromClient(c)}, c, nil
}

func (i imageModules) Module(ctx context.Context, containerID, arg0 string) (imagemodule.Module, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return imagemodule.Module{}, err
	}
	ctx = namespaces.WithNamespace(ctx, ns)
	m, err := wasmimage.Resolve(ctx, i.store, containerID, arg0)
	if errors.Is(err, wasmimage.ErrNotWasmImage) {
		return imagemodule.Module{}, fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	if err != nil {
		return imagemodule.Module{}, err
	}
	return imagemodule.Module{
		Digest: m.Digest.String(),
		Name:   m.Name,
		Read: func(ctx context.Context) ([]byte, error) {
			return m.Read(namespaces.WithNamespace(ctx, ns), i.store)
		},
	}, nil
}
