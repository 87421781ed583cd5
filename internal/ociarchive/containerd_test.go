package ociarchive_test

// These tests feed the archives to containerd's own import code, the same
// code `ctr images import` runs inside the daemon (transfer service, default
// mode) and in --local mode, with an on-disk content store and a bolt
// metadata store in a temporary directory. No daemon is started.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	imagearchive "github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ctrdtest"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ociarchive"
)

func init() {
	// Keep containerd's info/warning logs (fsverity probes, "No images
	// store for <index digest>") out of the test output.
	_ = log.SetLevel("error")
}

type store struct {
	cs     content.Store
	images images.Store
}

func newStore(t *testing.T) (context.Context, store) {
	t.Helper()
	ctx, db := ctrdtest.NewDB(t)
	return ctx, store{db.ContentStore(), metadata.NewImageStore(db)}
}

func imageNames(ctx context.Context, t *testing.T, s store) map[string]images.Image {
	t.Helper()
	list, err := s.images.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]images.Image{}
	for _, img := range list {
		out[img.Name] = img
	}
	return out
}

func TestContainerdImport(t *testing.T) {
	const name = "docker.io/library/hello:latest"
	for _, f := range ociarchive.Formats {
		t.Run(string(f), func(t *testing.T) {
			ctx, s := newStore(t)
			archiveBytes, desc := write(t, ociarchive.Image{Name: "hello", Module: testModule, Format: f})
			if err := ctrdtest.Import(ctx, s.cs, s.images, archiveBytes, "", false); err != nil {
				t.Fatalf("import: %v", err)
			}
			names := imageNames(ctx, t, s)
			img, ok := names[name]
			if !ok || len(names) != 1 {
				t.Fatalf("images after import: %v, want only %s", names, name)
			}
			if img.Target.Digest != desc.Digest || img.Target.MediaType != ocispec.MediaTypeImageManifest {
				t.Fatalf("target %+v, want manifest %s", img.Target, desc.Digest)
			}

			// What CRI and the client do with an image: resolve the manifest
			// and config for the host platform.
			m, err := images.Manifest(ctx, s.cs, img.Target, platforms.Default())
			if err != nil {
				t.Fatalf("images.Manifest: %v", err)
			}
			cfgDesc, err := img.Config(ctx, s.cs, platforms.Default())
			if err != nil {
				t.Fatalf("image config: %v", err)
			}
			p, err := images.ConfigPlatform(ctx, s.cs, cfgDesc)
			if err != nil {
				t.Fatal(err)
			}
			diffIDs, err := img.RootFS(ctx, s.cs, platforms.Default())
			if err != nil {
				t.Fatalf("RootFS: %v", err)
			}
			layer, err := content.ReadBlob(ctx, s.cs, m.Layers[0])
			if err != nil {
				t.Fatalf("layer not in the content store: %v", err)
			}

			if f != ociarchive.FormatRootfs {
				if p.OS != "wasip1" || p.Architecture != "wasm" {
					t.Errorf("config platform %+v", p)
				}
				if len(diffIDs) != 0 {
					t.Errorf("diff IDs %v, want none", diffIDs)
				}
				if !bytes.Equal(layer, testModule) {
					t.Errorf("layer %x, want the module", layer)
				}
				return
			}

			if !platforms.Default().Match(p) {
				t.Errorf("rootfs config platform %+v does not match the host", p)
			}
			if len(diffIDs) != 1 {
				t.Fatalf("diff IDs %v", diffIDs)
			}
			// Apply the layer the way the differ does and check the module.
			ds, err := compression.DecompressStream(bytes.NewReader(layer))
			if err != nil {
				t.Fatal(err)
			}
			defer ds.Close()
			root := t.TempDir()
			if _, err := archive.Apply(ctx, root, ds, archive.WithNoSameOwner()); err != nil {
				t.Fatalf("apply layer: %v", err)
			}
			fi, err := os.Stat(filepath.Join(root, "app.wasm"))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 || !fi.Mode().IsRegular() {
				t.Errorf("app.wasm mode %v, want -rwxr-xr-x", fi.Mode())
			}
		})
	}
}

func TestContainerdImportPlatformFilter(t *testing.T) {
	img := ociarchive.Image{Name: "hello", Module: testModule, Format: ociarchive.FormatWasmLayer, IndexPlatform: true}
	archiveBytes, _ := write(t, img)

	// A wasip1/wasm platform on the index descriptor: a plain import filters
	// the image out ...
	ctx, s := newStore(t)
	err := ctrdtest.Import(ctx, s.cs, s.images, archiveBytes, "", false)
	if !errors.Is(err, images.ErrEmptyWalk) {
		t.Fatalf("import without --all-platforms: got %v, want %v", err, images.ErrEmptyWalk)
	}
	// ... and --all-platforms imports it.
	ctx, s = newStore(t)
	if err := ctrdtest.Import(ctx, s.cs, s.images, archiveBytes, "", true); err != nil {
		t.Fatalf("import --all-platforms: %v", err)
	}
	if _, ok := imageNames(ctx, t, s)["docker.io/library/hello:latest"]; !ok {
		t.Fatal("image not stored with --all-platforms")
	}
}

func TestContainerdImportBaseName(t *testing.T) {
	archiveBytes, _ := write(t, ociarchive.Image{Name: "hello:v1", Module: testModule})

	// --base-name must be a prefix of the full name ...
	ctx, s := newStore(t)
	if err := ctrdtest.Import(ctx, s.cs, s.images, archiveBytes, "docker.io/library/hello", false); err != nil {
		t.Fatal(err)
	}
	if names := imageNames(ctx, t, s); len(names) != 1 || names["docker.io/library/hello:v1"].Name == "" {
		t.Fatalf("images %v", names)
	}
	// ... a short one silently stores nothing.
	ctx, s = newStore(t)
	if err := ctrdtest.Import(ctx, s.cs, s.images, archiveBytes, "hello", false); err != nil {
		t.Fatal(err)
	}
	if names := imageNames(ctx, t, s); len(names) != 0 {
		t.Fatalf("images %v, want none", names)
	}
}

// TestContainerdImportLocal follows `ctr images import --local`: the
// client's ImportIndex, then a walk filtered by the host platform.
func TestContainerdImportLocal(t *testing.T) {
	for _, f := range ociarchive.Formats {
		t.Run(string(f), func(t *testing.T) {
			ctx, s := newStore(t)
			archiveBytes, desc := write(t, ociarchive.Image{Name: "hello", Module: testModule, Format: f})
			index, err := imagearchive.ImportIndex(ctx, s.cs, bytes.NewReader(archiveBytes))
			if err != nil {
				t.Fatalf("ImportIndex: %v", err)
			}
			var named []string
			handler := images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
				children, err := images.Children(ctx, s.cs, d)
				if d.Digest == index.Digest {
					for _, m := range children {
						if n := m.Annotations[images.AnnotationImageName]; n != "" && m.Digest == desc.Digest {
							named = append(named, n)
						}
					}
				}
				return children, err
			})
			h := images.SetChildrenLabels(s.cs, images.FilterPlatforms(handler, platforms.Default()))
			if err := images.WalkNotEmpty(ctx, h, index); err != nil {
				t.Fatalf("walk: %v", err)
			}
			if len(named) != 1 || named[0] != "docker.io/library/hello:latest" {
				t.Fatalf("names %v", named)
			}
			// The raw index.json is kept as a blob too.
			ra, err := s.cs.ReaderAt(ctx, index)
			if err != nil {
				t.Fatal(err)
			}
			defer ra.Close()
			if _, err := io.ReadAll(content.NewReader(ra)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
