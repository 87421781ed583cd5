package wasmimage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasmimage"
)

// memStore is a Store over blobs in memory: one container, one image.
type memStore struct {
	target ocispec.Descriptor
	blobs  map[digest.Digest][]byte
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

func (s *memStore) ReaderAt(_ context.Context, d ocispec.Descriptor) (content.ReaderAt, error) {
	b, ok := s.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, errdefs.ErrNotFound)
	}
	return memReader{bytes.NewReader(b)}, nil
}

func (s *memStore) ContainerImage(context.Context, string) (string, error) { return imageName, nil }

func (s *memStore) ImageTarget(context.Context, string) (ocispec.Descriptor, error) {
	return s.target, nil
}

func (s *memStore) add(b []byte) (digest.Digest, int) {
	d := digest.FromBytes(b)
	s.blobs[d] = b
	return d, len(b)
}

// Seeds: an artifact manifest, a wasm-layer image manifest, an index of
// one manifest, a component image. In doc, CONFIG, LAYER and MANIFEST
// stand for the digest and size of the config, the module layer and a
// valid artifact manifest (the harness fills them in), so mutations keep
// reaching the documents behind them.
var fuzzSeeds = []struct{ mediaType, doc, config, arg0 string }{
	{ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.wasm.config.v0+json","config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"CONFIG_DIGEST","size":CONFIG_SIZE},"layers":[{"mediaType":"application/wasm","digest":"LAYER_DIGEST","size":LAYER_SIZE,"annotations":{"org.opencontainers.image.title":"app.wasm"}}]}`, `{"created":"2024-01-01T00:00:00Z","author":"x","architecture":"wasm","os":"wasip1","layerDigests":["LAYER_DIGEST"]}`, "/app.wasm"},
	{ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"CONFIG_DIGEST","size":CONFIG_SIZE},"layers":[{"mediaType":"application/wasm","digest":"LAYER_DIGEST","size":LAYER_SIZE}]}`, `{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[]}}`, "app.wasm"},
	{ocispec.MediaTypeImageIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"MANIFEST_DIGEST","size":MANIFEST_SIZE,"platform":{"architecture":"wasm","os":"wasip1"}}]}`, `{}`, "/x.wasm"},
	{ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"CONFIG_DIGEST","size":CONFIG_SIZE},"layers":[{"mediaType":"application/vnd.bytecodealliance.wasm.component.layer.v0+wasm","digest":"LAYER_DIGEST","size":LAYER_SIZE}]}`, `{}`, ""},
}

// FuzzResolve: whatever the image's documents hold, Resolve returns a
// module whose bytes are in the store, or an error naming the container
// that wraps ErrNotWasmImage or an errdefs class; it never panics or hangs.
func FuzzResolve(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.mediaType, s.doc, s.config, s.arg0)
	}
	f.Fuzz(func(t *testing.T, mediaType, doc, config, arg0 string) {
		s, m, err := resolveDoc(mediaType, doc, config, arg0)
		if err != nil {
			if !strings.Contains(err.Error(), ctrID) {
				t.Fatalf("error %q does not name the container", err)
			}
			if !errors.Is(err, wasmimage.ErrNotWasmImage) && !errdefs.IsNotFound(err) && !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) && !errdefs.IsDataLoss(err) {
				t.Fatalf("error %q wraps no documented class", err)
			}
			return
		}
		b, err := m.Read(context.Background(), s)
		if err != nil {
			t.Fatalf("Resolve chose %+v, which cannot be read: %v", m, err)
		}
		if digest.FromBytes(b) != m.Digest {
			t.Fatalf("module bytes do not match %s", m.Digest)
		}
	})
}

// TestFuzzSeedsResolve: the seeds reach a module (the last one, a
// component image, is refused as not implemented), so mutations start deep.
func TestFuzzSeedsResolve(t *testing.T) {
	for i, sd := range fuzzSeeds {
		_, m, err := resolveDoc(sd.mediaType, sd.doc, sd.config, sd.arg0)
		if i == len(fuzzSeeds)-1 {
			if !errdefs.IsNotImplemented(err) {
				t.Errorf("seed %d: %v, want NotImplemented", i, err)
			}
			continue
		}
		if err != nil || m.Digest == "" {
			t.Errorf("seed %d: %+v, %v", i, m, err)
		}
	}
}

// resolveDoc builds a store whose image target is doc (placeholders filled
// in) and resolves container c1 from it.
func resolveDoc(mediaType, doc, config, arg0 string) (*memStore, wasmimage.Module, error) {
	s := &memStore{blobs: map[digest.Digest][]byte{}}
	layer := []byte("\x00asm\x01\x00\x00\x00")
	ld, ls := s.add(layer)
	cfg := strings.ReplaceAll(config, "LAYER_DIGEST", ld.String())
	cd, cs := s.add([]byte(cfg))
	inner := fmt.Sprintf(`{"schemaVersion":2,"artifactType":"application/vnd.wasm.config.v0+json","config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/wasm","digest":%q,"size":%d}]}`, cd, cs, ld, ls)
	md, ms := s.add([]byte(inner))
	doc = strings.NewReplacer(
		"CONFIG_DIGEST", cd.String(), "CONFIG_SIZE", fmt.Sprint(cs),
		"LAYER_DIGEST", ld.String(), "LAYER_SIZE", fmt.Sprint(ls),
		"MANIFEST_DIGEST", md.String(), "MANIFEST_SIZE", fmt.Sprint(ms),
	).Replace(doc)
	td, ts := s.add([]byte(doc))
	s.target = ocispec.Descriptor{MediaType: mediaType, Digest: td, Size: int64(ts)}

	m, err := wasmimage.Resolve(context.Background(), s, ctrID, arg0)
	return s, m, err
}
