package wasmimage

import (
	"context"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Store is the part of containerd Resolve needs, scoped to the namespace in
// the context. Its ReaderAt makes it a content.Provider, so containerd's
// core/images helpers accept it.
type Store interface {
	content.Provider
	// ContainerImage returns the image name recorded on container id
	// (empty when the container was created without an image). Unknown
	// containers yield an error wrapping errdefs.ErrNotFound.
	ContainerImage(ctx context.Context, id string) (string, error)
	// ImageTarget returns the target descriptor (an index or a manifest) of
	// the image named name.
	ImageTarget(ctx context.Context, name string) (ocispec.Descriptor, error)
}

// NewStore builds a Store from containerd's container, image and content
// stores: the client's services, or the in-process metadata stores.
func NewStore(cs containers.Store, is images.Store, p content.Provider) Store {
	return &store{containers: cs, images: is, content: p}
}

// FromClient returns a Store backed by a containerd client's services.
func FromClient(c *containerd.Client) Store {
	return NewStore(c.ContainerService(), c.ImageService(), c.ContentStore())
}

type store struct {
	containers containers.Store
	images     images.Store
	content    content.Provider
}

var _ Store = (*store)(nil)

func (s *store) ContainerImage(ctx context.Context, id string) (string, error) {
	c, err := s.containers.Get(ctx, id)
	if err != nil {
		return "", err
	}
	return c.Image, nil
}

func (s *store) ImageTarget(ctx context.Context, name string) (ocispec.Descriptor, error) {
	img, err := s.images.Get(ctx, name)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return img.Target, nil
}

func (s *store) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	return s.content.ReaderAt(ctx, desc)
}
