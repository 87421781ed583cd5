package wasmimage_test

// The tests run containerd's own import code (the transfer service behind
// `ctr images import`) and its bolt metadata stores in-process, as
// internal/ociarchive/containerd_test.go does, and reach them through
// wasmimage.FromClient on a client built from those stores. No daemon runs.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/log"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ctrdtest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ociarchive"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasmimage"
)

func init() {
	// Keep containerd's info/warning logs out of the test output.
	_ = log.SetLevel("error")
}

// module returns a distinct core module: the preamble plus a custom section
// named tag.
func module(tag string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0, byte(1+len(tag)), byte(len(tag)))
	return append(b, tag...)
}

// env is a containerd namespace with on-disk content and bolt metadata.
type env struct {
	ctx        context.Context
	content    content.Store
	images     images.Store
	containers containers.Store
	store      wasmimage.Store // FromClient on a client over the stores above
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, db := ctrdtest.NewDB(t)
	e := &env{
		ctx:        ctx,
		content:    db.ContentStore(),
		images:     metadata.NewImageStore(db),
		containers: metadata.NewContainerStore(db),
	}
	client, err := containerd.New("", containerd.WithServices(
		containerd.WithContentStore(e.content),
		containerd.WithImageStore(e.images),
		containerd.WithContainerStore(e.containers),
	))
	if err != nil {
		t.Fatal(err)
	}
	e.store = wasmimage.FromClient(client)
	return e
}

// importArchive does what `ctr images import FILE` asks the daemon to do
// (host platform filter, no unpack).
func (e *env) importArchive(t *testing.T, archive []byte) {
	t.Helper()
	if err := ctrdtest.Import(e.ctx, e.content, e.images, archive, "", false); err != nil {
		t.Fatalf("import: %v", err)
	}
}

// importedEnv is a new env with archive imported and container ctrID
// recorded on image imageName.
func importedEnv(t *testing.T, archive []byte) *env {
	t.Helper()
	e := newEnv(t)
	e.importArchive(t, archive)
	e.addContainer(t, ctrID, imageName)
	return e
}

// writeArchive builds an archive of img with ociarchive.
func writeArchive(t *testing.T, img ociarchive.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := ociarchive.Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// addContainer records container id using image, as `ctr run` or CRI would.
func (e *env) addContainer(t *testing.T, id, imageName string) {
	t.Helper()
	_, err := e.containers.Create(e.ctx, containers.Container{
		ID:      id,
		Image:   imageName,
		Runtime: containers.RuntimeInfo{Name: "io.containerd.wasm.v1"},
		Spec:    &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Spec", Value: []byte("{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// layout builds an OCI image-layout archive by hand, for manifests
// ociarchive does not produce.
type layout struct {
	blobs map[digest.Digest][]byte
	index ocispec.Index
}

func newLayout() *layout {
	return &layout{
		blobs: map[digest.Digest][]byte{},
		index: ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex},
	}
}

func (l *layout) blob(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	l.blobs[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (l *layout) json(t *testing.T, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return l.blob(mediaType, b)
}

// wasmLayer adds a module layer titled title (no annotation when empty).
func (l *layout) wasmLayer(title string, mod []byte) ocispec.Descriptor {
	d := l.blob(wasmimage.MediaTypeWasmLayer, mod)
	if title != "" {
		d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
	}
	return d
}

// imageConfig adds an OCI image config for os/arch.
func (l *layout) imageConfig(t *testing.T, os, arch string) ocispec.Descriptor {
	return l.json(t, ocispec.MediaTypeImageConfig, ocispec.Image{
		Platform: ocispec.Platform{OS: os, Architecture: arch},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
	})
}

// artifactConfig adds a Wasm artifact config.
func (l *layout) artifactConfig(t *testing.T, cfg map[string]any) ocispec.Descriptor {
	return l.json(t, wasmimage.MediaTypeWasmConfig, cfg)
}

func (l *layout) manifest(t *testing.T, artifactType string, config ocispec.Descriptor, layers ...ocispec.Descriptor) ocispec.Descriptor {
	return l.json(t, ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
	})
}

func (l *layout) subIndex(t *testing.T, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	return l.json(t, ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
}

// name lists desc in index.json under the full image name.
func (l *layout) name(desc ocispec.Descriptor, name string) {
	desc.Annotations = map[string]string{images.AnnotationImageName: name}
	l.index.Manifests = append(l.index.Manifests, desc)
}

func (l *layout) tar(t *testing.T) []byte {
	t.Helper()
	files := map[string][]byte{}
	for d, b := range l.blobs {
		files["blobs/"+d.Algorithm().String()+"/"+d.Encoded()] = b
	}
	var err error
	if files[ocispec.ImageIndexFile], err = json.Marshal(l.index); err != nil {
		t.Fatal(err)
	}
	if files[ocispec.ImageLayoutFile], err = json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// spyStore records the digests read through it.
type spyStore struct {
	wasmimage.Store
	mu   sync.Mutex
	read []digest.Digest
}

func (s *spyStore) ReaderAt(ctx context.Context, desc ocispec.Descriptor) (content.ReaderAt, error) {
	s.mu.Lock()
	s.read = append(s.read, desc.Digest)
	s.mu.Unlock()
	return s.Store.ReaderAt(ctx, desc)
}

func (s *spyStore) reads(d digest.Digest) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.read {
		if r == d {
			n++
		}
	}
	return n
}
