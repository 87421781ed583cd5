package wasmimage_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ociarchive"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasmimage"
)

const (
	imageName = "docker.io/library/hello:latest"
	ctrID     = "c1"
)

// wantErr fails unless err wraps target and mentions every string in want.
func wantErr(t *testing.T, err, target error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %v", err, target)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// resolveErr resolves container c1 and returns the error, failing when
// Resolve succeeds.
func resolveErr(t *testing.T, e *env, arg0 string) error {
	t.Helper()
	m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, arg0)
	if err == nil {
		t.Fatalf("Resolve = %+v, want an error", m)
	}
	return err
}

func TestResolveOCIArchiveFormats(t *testing.T) {
	for _, f := range []ociarchive.Format{ociarchive.FormatWasmLayer, ociarchive.FormatArtifact} {
		t.Run(string(f), func(t *testing.T) {
			mod := module(string(f))
			e := importedEnv(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: mod, ModulePath: "/bin/hello.wasm", Format: f}))

			spy := &spyStore{Store: e.store}
			m, err := wasmimage.Resolve(e.ctx, spy, ctrID, "hello.wasm")
			if err != nil {
				t.Fatal(err)
			}
			want := wasmimage.Module{Digest: digest.FromBytes(mod), Size: int64(len(mod)), Name: "hello.wasm", MediaType: "application/wasm"}
			if m != want {
				t.Fatalf("Resolve = %+v, want %+v", m, want)
			}
			if n := spy.reads(m.Digest); n != 0 {
				t.Fatalf("Resolve read the module blob %d time(s); it must only name it", n)
			}
			got, err := m.Read(e.ctx, spy)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, mod) {
				t.Fatalf("Read = %x, want %x", got, mod)
			}
			if spy.reads(m.Digest) != 1 {
				t.Fatal("Read did not go through the store")
			}
			// A single layer is chosen whatever args[0] says.
			if m2, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "/other/name.wasm"); err != nil || m2 != want {
				t.Fatalf("Resolve with another args[0] = %+v, %v", m2, err)
			}
		})
	}
}

func TestResolveRootfsImage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform *ocispec.Platform
		want     string
	}{
		{"host", nil, "image platform linux/" + runtime.GOARCH},
		// docker buildx --platform wasi/wasm: a wasi image whose module is a
		// file in a tar layer, i.e. in the rootfs.
		{"wasi-tar-layer", &ocispec.Platform{OS: "wasi", Architecture: "wasm"}, "filesystem layer(s) and no application/wasm layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := importedEnv(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: module("r"), Platform: tc.platform}))
			wantErr(t, resolveErr(t, e, "/app.wasm"), wasmimage.ErrNotWasmImage, ctrID, imageName, tc.want)
		})
	}
}

func TestResolveLayerChoice(t *testing.T) {
	a, b := module("a"), module("b")
	for _, tc := range []struct {
		name   string
		config func(*testing.T, *layout) (artifactType string, config ocispec.Descriptor)
	}{
		{"artifact", func(t *testing.T, l *layout) (string, ocispec.Descriptor) {
			return wasmimage.MediaTypeWasmConfig, l.artifactConfig(t, map[string]any{"os": "wasip1", "architecture": "wasm", "created": "1970-01-01T00:00:00Z"})
		}},
		{"wasm-layer", func(t *testing.T, l *layout) (string, ocispec.Descriptor) {
			return "", l.imageConfig(t, "wasip1", "wasm")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout()
			la, lb := l.wasmLayer("a.wasm", a), l.wasmLayer("b.wasm", b)
			at, cfg := tc.config(t, l)
			l.name(l.manifest(t, at, cfg, la, lb), imageName)
			e := importedEnv(t, l.tar(t))

			for arg0, want := range map[string]ocispec.Descriptor{
				"/b.wasm":               lb,
				"a.wasm":                la,
				"/usr/lib/b.wasm":       lb,
				lb.Digest.String():      lb,
				"./relative/dir/a.wasm": la,
			} {
				m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, arg0)
				if err != nil {
					t.Fatalf("args[0] %q: %v", arg0, err)
				}
				if m.Digest != want.Digest || m.Name != want.Annotations[ocispec.AnnotationTitle] || m.Size != want.Size {
					t.Errorf("args[0] %q: got %+v, want layer %s", arg0, m, want.Annotations[ocispec.AnnotationTitle])
				}
			}
			for _, arg0 := range []string{"c.wasm", "", "/"} {
				err := resolveErr(t, e, arg0)
				wantErr(t, err, errdefs.ErrInvalidArgument, ctrID, imageName, `"a.wasm"`, `"b.wasm"`,
					la.Digest.String(), lb.Digest.String(), "args[0]", "names none of them")
			}
		})
	}
}

func TestResolveDuplicateTitles(t *testing.T) {
	l := newLayout()
	la, lb := l.wasmLayer("app.wasm", module("a")), l.wasmLayer("app.wasm", module("b"))
	l.name(l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), la, lb), imageName)
	e := importedEnv(t, l.tar(t))

	wantErr(t, resolveErr(t, e, "app.wasm"), errdefs.ErrInvalidArgument, ctrID, imageName, "matches 2", lb.Digest.String())
	// The digest still tells them apart.
	m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, lb.Digest.String())
	if err != nil || m.Digest != lb.Digest {
		t.Fatalf("Resolve by digest = %+v, %v; want %s", m, err, lb.Digest)
	}
}

func TestResolveUntitledLayer(t *testing.T) {
	l := newLayout()
	la := l.wasmLayer("", module("a"))
	l.name(l.manifest(t, wasmimage.MediaTypeWasmConfig, l.artifactConfig(t, map[string]any{"os": "wasip1", "architecture": "wasm"}), la), imageName)
	e := importedEnv(t, l.tar(t))
	m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "whatever")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != la.Digest.String() {
		t.Fatalf("Name = %q, want the digest %s", m.Name, la.Digest)
	}
}

func TestResolveMixedLayers(t *testing.T) {
	// runwasi allows filesystem layers (unpacked into the rootfs) next to
	// the module layer.
	l := newLayout()
	fs := l.blob(ocispec.MediaTypeImageLayerGzip, []byte("not really a tarball"))
	mod := l.wasmLayer("app.wasm", module("m"))
	l.name(l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), fs, mod), imageName)
	e := importedEnv(t, l.tar(t))
	m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "app.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != mod.Digest {
		t.Fatalf("got %s, want the module layer %s", m.Digest, mod.Digest)
	}
}

func TestResolveUnsupportedImages(t *testing.T) {
	artifact := func(t *testing.T, l *layout) ocispec.Descriptor {
		return l.artifactConfig(t, map[string]any{"os": "wasip1", "architecture": "wasm"})
	}
	for _, tc := range []struct {
		name   string
		build  func(*testing.T, *layout) ocispec.Descriptor // returns the manifest
		target error
		want   []string
	}{
		{"component layer", func(t *testing.T, l *layout) ocispec.Descriptor {
			c := l.blob(wasmimage.MediaTypeComponentLayer, []byte("\x00asm\x0d\x00\x01\x00"))
			return l.manifest(t, wasmimage.MediaTypeWasmConfig, artifact(t, l), c)
		}, errdefs.ErrNotImplemented, []string{"components are not supported", wasmimage.MediaTypeComponentLayer}},
		{"component layer next to a module", func(t *testing.T, l *layout) ocispec.Descriptor {
			c := l.blob(wasmimage.MediaTypeComponentLayer, []byte("\x00asm\x0d\x00\x01\x00"))
			return l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), l.wasmLayer("app.wasm", module("m")), c)
		}, errdefs.ErrNotImplemented, []string{"components are not supported"}},
		{"wasip2 image config", func(t *testing.T, l *layout) ocispec.Descriptor {
			return l.manifest(t, "", l.imageConfig(t, "wasip2", "wasm"), l.wasmLayer("app.wasm", module("m")))
		}, errdefs.ErrNotImplemented, []string{"wasip2/wasm", "components are not supported"}},
		{"wasip2 artifact config", func(t *testing.T, l *layout) ocispec.Descriptor {
			cfg := l.artifactConfig(t, map[string]any{"os": "wasip2", "architecture": "wasm", "component": map[string]any{"exports": []string{"wasi:cli/run@0.2.0"}}})
			return l.manifest(t, wasmimage.MediaTypeWasmConfig, cfg, l.wasmLayer("app.wasm", module("m")))
		}, errdefs.ErrNotImplemented, []string{"component", "wasip2"}},
		{"octet-stream layer in a wasip1 image", func(t *testing.T, l *layout) ocispec.Descriptor {
			o := l.blob("application/octet-stream", []byte("data"))
			return l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), l.wasmLayer("app.wasm", module("m")), o)
		}, errdefs.ErrInvalidArgument, []string{`unknown image layer type "application/octet-stream"`}},
		{"tar layer in an artifact", func(t *testing.T, l *layout) ocispec.Descriptor {
			o := l.blob(ocispec.MediaTypeImageLayer, []byte("tar"))
			return l.manifest(t, wasmimage.MediaTypeWasmConfig, artifact(t, l), o)
		}, errdefs.ErrInvalidArgument, []string{`unknown image layer type "` + ocispec.MediaTypeImageLayer + `"`}},
		{"artifact without layers", func(t *testing.T, l *layout) ocispec.Descriptor {
			return l.manifest(t, wasmimage.MediaTypeWasmConfig, artifact(t, l))
		}, errdefs.ErrInvalidArgument, []string{"no application/wasm layer"}},
		{"other artifact", func(t *testing.T, l *layout) ocispec.Descriptor {
			cfg := l.json(t, "application/vnd.cncf.helm.config.v1+json", map[string]string{"name": "chart"})
			return l.manifest(t, "", cfg, l.blob("application/vnd.cncf.helm.chart.content.v1.tar+gzip", []byte("chart")))
		}, wasmimage.ErrNotWasmImage, []string{"application/vnd.cncf.helm.config.v1+json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout()
			l.name(tc.build(t, l), imageName)
			e := importedEnv(t, l.tar(t))
			wantErr(t, resolveErr(t, e, "app.wasm"), tc.target, append([]string{ctrID, imageName}, tc.want...)...)
		})
	}
}

func TestResolveIndex(t *testing.T) {
	host := platforms.DefaultSpec()
	wasip1 := ocispec.Platform{OS: "wasip1", Architecture: "wasm"}
	for _, tc := range []struct {
		name string
		// build returns the index's manifests and the module layer Resolve
		// must pick (zero when it must fail with ErrNotWasmImage).
		build func(*testing.T, *layout) ([]ocispec.Descriptor, ocispec.Descriptor)
	}{
		{"wasip1 platform on the descriptor", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			hostM := l.manifest(t, "", l.imageConfig(t, host.OS, host.Architecture), l.blob(ocispec.MediaTypeImageLayerGzip, []byte("x")))
			hostM.Platform = &host
			mod := l.wasmLayer("app.wasm", module("w"))
			wasmM := l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), mod)
			wasmM.Platform = &wasip1
			return []ocispec.Descriptor{hostM, wasmM}, mod
		}},
		{"wasip1 platform from the config", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			hostM := l.manifest(t, "", l.imageConfig(t, host.OS, host.Architecture), l.blob(ocispec.MediaTypeImageLayerGzip, []byte("x")))
			mod := l.wasmLayer("app.wasm", module("w"))
			wasmM := l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), mod)
			return []ocispec.Descriptor{hostM, wasmM}, mod
		}},
		{"wasip1 preferred over wasi", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			wasiM := l.manifest(t, "", l.imageConfig(t, "wasi", "wasm"), l.wasmLayer("old.wasm", module("old")))
			mod := l.wasmLayer("app.wasm", module("w"))
			wasmM := l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), mod)
			return []ocispec.Descriptor{wasiM, wasmM}, mod
		}},
		{"artifact marked by artifactType only", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			hostM := l.manifest(t, "", l.imageConfig(t, host.OS, host.Architecture), l.blob(ocispec.MediaTypeImageLayerGzip, []byte("x")))
			hostM.Platform = &host
			mod := l.wasmLayer("app.wasm", module("a"))
			// An empty config: no platform to match, only artifactType says Wasm.
			art := l.manifest(t, wasmimage.MediaTypeWasmConfig, l.blob(ocispec.MediaTypeEmptyJSON, []byte("{}")), mod)
			art.ArtifactType = wasmimage.MediaTypeWasmConfig
			return []ocispec.Descriptor{hostM, art}, mod
		}},
		{"nested index", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			mod := l.wasmLayer("app.wasm", module("n"))
			wasmM := l.manifest(t, "", l.imageConfig(t, "wasip1", "wasm"), mod)
			wasmM.Platform = &wasip1
			return []ocispec.Descriptor{l.subIndex(t, wasmM)}, mod
		}},
		{"host platform only", func(t *testing.T, l *layout) ([]ocispec.Descriptor, ocispec.Descriptor) {
			hostM := l.manifest(t, "", l.imageConfig(t, host.OS, host.Architecture), l.blob(ocispec.MediaTypeImageLayerGzip, []byte("x")))
			hostM.Platform = &host
			return []ocispec.Descriptor{hostM}, ocispec.Descriptor{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout()
			manifests, want := tc.build(t, l)
			l.name(l.subIndex(t, manifests...), imageName)
			e := importedEnv(t, l.tar(t))
			img, err := e.images.Get(e.ctx, imageName)
			if err != nil {
				t.Fatal(err)
			}
			if img.Target.MediaType != ocispec.MediaTypeImageIndex {
				t.Fatalf("image target %+v, want an index", img.Target)
			}
			m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "app.wasm")
			if want.Digest == "" {
				wantErr(t, err, wasmimage.ErrNotWasmImage, ctrID, imageName)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Digest != want.Digest {
				t.Fatalf("picked %+v, want %s", m, want.Digest)
			}
		})
	}
}

func TestResolveLookupErrors(t *testing.T) {
	e := newEnv(t)
	e.importArchive(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: module("x"), Format: ociarchive.FormatWasmLayer}))

	_, err := wasmimage.Resolve(e.ctx, e.store, "nope", "app.wasm")
	wantErr(t, err, errdefs.ErrNotFound, `"nope"`)

	e.addContainer(t, "gone", "docker.io/library/gone:latest")
	_, err = wasmimage.Resolve(e.ctx, e.store, "gone", "app.wasm")
	wantErr(t, err, errdefs.ErrNotFound, `"gone"`, "docker.io/library/gone:latest")

	e.addContainer(t, "noimage", "")
	_, err = wasmimage.Resolve(e.ctx, e.store, "noimage", "app.wasm")
	wantErr(t, err, wasmimage.ErrNotWasmImage, `"noimage"`, "without an image")
}

func TestResolveMissingBlobs(t *testing.T) {
	mod := module("x")
	modDigest := digest.FromBytes(mod)

	t.Run("module", func(t *testing.T) {
		e := importedEnv(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: mod, Format: ociarchive.FormatArtifact}))
		if err := e.content.Delete(e.ctx, modDigest); err != nil {
			t.Fatal(err)
		}
		// Resolve only names the module, so it still succeeds ...
		m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "app.wasm")
		if err != nil {
			t.Fatal(err)
		}
		// ... and Read reports the missing blob.
		_, err = m.Read(e.ctx, e.store)
		wantErr(t, err, errdefs.ErrNotFound, modDigest.String(), "app.wasm")
	})

	t.Run("config", func(t *testing.T) {
		e := importedEnv(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: mod, Format: ociarchive.FormatWasmLayer}))
		img, err := e.images.Get(e.ctx, imageName)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.Config(e.ctx, e.content, platforms.Default())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.content.Delete(e.ctx, cfg.Digest); err != nil {
			t.Fatal(err)
		}
		wantErr(t, resolveErr(t, e, "app.wasm"), errdefs.ErrNotFound, ctrID, imageName, cfg.Digest.String())
	})
}

func TestRead(t *testing.T) {
	mod := module("x")
	e := importedEnv(t, writeArchive(t, ociarchive.Image{Name: "hello", Module: mod, Format: ociarchive.FormatWasmLayer}))
	m, err := wasmimage.Resolve(e.ctx, e.store, ctrID, "app.wasm")
	if err != nil {
		t.Fatal(err)
	}

	big := m
	big.Size = wasmimage.MaxModuleSize + 1
	spy := &spyStore{Store: e.store}
	_, err = big.Read(e.ctx, spy)
	wantErr(t, err, errdefs.ErrInvalidArgument, "limit")
	if spy.reads(m.Digest) != 0 {
		t.Error("Read opened a blob above the size limit")
	}

	short := m
	short.Size--
	_, err = short.Read(e.ctx, e.store)
	wantErr(t, err, errdefs.ErrDataLoss, m.Digest.String())

	_, err = wasmimage.Module{Name: "zero"}.Read(e.ctx, e.store)
	wantErr(t, err, errdefs.ErrInvalidArgument, "zero")
}

func TestMediaTypesMatchOCIArchive(t *testing.T) {
	if wasmimage.MediaTypeWasmLayer != ociarchive.MediaTypeWasmLayer || wasmimage.MediaTypeWasmConfig != ociarchive.MediaTypeWasmConfig {
		t.Fatal("wasmimage and ociarchive disagree on the Wasm media types")
	}
}
