package wasmimage

import (
	"context"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxModuleSize bounds the module bytes Read loads into memory.
const MaxModuleSize = 256 << 20

// maxDocumentSize bounds index, manifest and config blobs (as containerd's
// registry client does for manifests).
const maxDocumentSize = 4 << 20

// Module is the WebAssembly module an image provides: one layer blob in
// containerd's content store.
type Module struct {
	// Digest identifies the module bytes; a stable compile-cache key.
	Digest digest.Digest
	// Size is the module size in bytes.
	Size int64
	// Name is the layer's org.opencontainers.image.title annotation, or the
	// digest when the layer has no title.
	Name string
	// MediaType is the layer media type (application/wasm).
	MediaType string
}

func (m Module) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
}

// Read loads the module bytes from the content store and checks them against
// Size and Digest. Modules larger than MaxModuleSize are refused. The
// context carries the containerd namespace.
func (m Module) Read(ctx context.Context, s Store) ([]byte, error) {
	b, err := readBlob(ctx, s, m.descriptor(), MaxModuleSize)
	if err != nil {
		return nil, fmt.Errorf("module %q: %w", m.Name, err)
	}
	return b, nil
}

// readBlob reads the whole blob desc, refusing blobs larger than limit and
// content that does not match the descriptor's size and digest. Errors name
// the digest.
func readBlob(ctx context.Context, s Store, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("blob digest %q: %v: %w", desc.Digest, err, errdefs.ErrInvalidArgument)
	}
	if desc.Size < 0 || desc.Size > limit {
		return nil, fmt.Errorf("blob %s: size %d is outside the limit of %d bytes: %w", desc.Digest, desc.Size, limit, errdefs.ErrInvalidArgument)
	}
	ra, err := s.ReaderAt(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("blob %s (%s) is not readable from the content store: %w", desc.Digest, desc.MediaType, err)
	}
	defer ra.Close()
	if ra.Size() != desc.Size {
		return nil, fmt.Errorf("blob %s: content store holds %d bytes, descriptor says %d: %w", desc.Digest, ra.Size(), desc.Size, errdefs.ErrDataLoss)
	}
	b := make([]byte, desc.Size)
	if _, err := io.ReadFull(io.NewSectionReader(ra, 0, desc.Size), b); err != nil {
		return nil, fmt.Errorf("blob %s: read: %w", desc.Digest, err)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s: %w", desc.Digest, got, errdefs.ErrDataLoss)
	}
	return b, nil
}
