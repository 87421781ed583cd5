package ociarchive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ociarchive"
)

// testModule is the smallest valid core module: magic and version only.
var testModule = []byte("\x00asm\x01\x00\x00\x00")

type entry struct {
	hdr  *tar.Header
	data []byte
}

// readTar reads every entry of a tar stream, checking names are unique and
// returns them with their names in archive order.
func readTar(t *testing.T, r io.Reader) (map[string]entry, []string) {
	t.Helper()
	tr := tar.NewReader(r)
	entries := map[string]entry{}
	var order []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return entries, order
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := entries[hdr.Name]; dup {
			t.Fatalf("duplicate tar entry %q", hdr.Name)
		}
		entries[hdr.Name] = entry{hdr, data}
		order = append(order, hdr.Name)
	}
}

// layout is a parsed archive.
type layout struct {
	entries  map[string]entry
	index    ocispec.Index
	desc     ocispec.Descriptor // the single manifest descriptor
	manifest ocispec.Manifest
	config   []byte
}

// blob returns the blob for desc, checking that it exists with the
// descriptor's digest and size.
func (l *layout) blob(t *testing.T, desc ocispec.Descriptor) []byte {
	t.Helper()
	if err := desc.Digest.Validate(); err != nil {
		t.Fatalf("descriptor digest: %v", err)
	}
	e, ok := l.entries["blobs/sha256/"+desc.Digest.Encoded()]
	if !ok {
		t.Fatalf("blob %s (%s) missing from archive", desc.Digest, desc.MediaType)
	}
	if got := digest.FromBytes(e.data); got != desc.Digest {
		t.Fatalf("blob %s has digest %s", desc.Digest, got)
	}
	if int64(len(e.data)) != desc.Size {
		t.Fatalf("blob %s has size %d, descriptor says %d", desc.Digest, len(e.data), desc.Size)
	}
	return e.data
}

// layerFiles reads layer 0, a gzip'd tar: its uncompressed bytes, and
// its entries with their names in archive order.
func (l *layout) layerFiles(t *testing.T) (raw []byte, files map[string]entry, order []string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, l.manifest.Layers[0])))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	if raw, err = io.ReadAll(zr); err != nil {
		t.Fatal(err)
	}
	files, order = readTar(t, bytes.NewReader(raw))
	return raw, files, order
}

// parse checks the generic layout of an archive and parses it.
func parse(t *testing.T, archive []byte) *layout {
	t.Helper()
	entries, order := readTar(t, bytes.NewReader(archive))
	if !sort.StringsAreSorted(order) {
		t.Errorf("entries not sorted: %v", order)
	}
	for name, e := range entries {
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want epoch and root", name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
		}
		if strings.HasPrefix(name, "blobs/sha256/") && e.hdr.Typeflag == tar.TypeReg {
			if got := digest.FromBytes(e.data).Encoded(); "blobs/sha256/"+got != name {
				t.Errorf("blob %s has content digest %s", name, got)
			}
		}
	}
	l := &layout{entries: entries}

	ol, ok := entries["oci-layout"]
	if !ok {
		t.Fatal("oci-layout missing")
	}
	var lay ocispec.ImageLayout
	if err := json.Unmarshal(ol.data, &lay); err != nil || lay.Version != "1.0.0" {
		t.Fatalf("oci-layout = %s (%v)", ol.data, err)
	}

	ix, ok := entries["index.json"]
	if !ok {
		t.Fatal("index.json missing")
	}
	if err := json.Unmarshal(ix.data, &l.index); err != nil {
		t.Fatal(err)
	}
	if l.index.SchemaVersion != 2 || l.index.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("index schemaVersion %d mediaType %q", l.index.SchemaVersion, l.index.MediaType)
	}
	if len(l.index.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(l.index.Manifests))
	}
	l.desc = l.index.Manifests[0]
	if l.desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("manifest descriptor media type %q", l.desc.MediaType)
	}
	if err := json.Unmarshal(l.blob(t, l.desc), &l.manifest); err != nil {
		t.Fatal(err)
	}
	if l.manifest.SchemaVersion != 2 || l.manifest.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("manifest schemaVersion %d mediaType %q", l.manifest.SchemaVersion, l.manifest.MediaType)
	}
	l.config = l.blob(t, l.manifest.Config)
	for _, ld := range l.manifest.Layers {
		l.blob(t, ld)
	}
	// No stray blobs: manifest, config and layers only.
	nblobs := 0
	for name, e := range entries {
		if strings.HasPrefix(name, "blobs/sha256/") && e.hdr.Typeflag == tar.TypeReg {
			nblobs++
		}
	}
	if want := 2 + len(l.manifest.Layers); nblobs != want {
		t.Errorf("archive has %d blobs, want %d", nblobs, want)
	}
	return l
}

func write(t *testing.T, img ociarchive.Image) ([]byte, ocispec.Descriptor) {
	t.Helper()
	var buf bytes.Buffer
	desc, err := ociarchive.Write(&buf, img)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), desc
}

func checkNames(t *testing.T, l *layout, ret ocispec.Descriptor, full, tag string) {
	t.Helper()
	if got := l.desc.Annotations["io.containerd.image.name"]; got != full {
		t.Errorf("io.containerd.image.name = %q, want %q", got, full)
	}
	if got := l.desc.Annotations["org.opencontainers.image.ref.name"]; got != tag {
		t.Errorf("org.opencontainers.image.ref.name = %q, want %q", got, tag)
	}
	if ret.Digest != l.desc.Digest || ret.Size != l.desc.Size || ret.MediaType != l.desc.MediaType {
		t.Errorf("Write returned %+v, index has %+v", ret, l.desc)
	}
	if l.desc.Platform != nil {
		t.Errorf("index descriptor has platform %+v, want none by default", l.desc.Platform)
	}
}

func TestRootfs(t *testing.T) {
	img := ociarchive.Image{
		Name:       "hello:latest",
		Module:     testModule,
		Args:       []string{"echo", "hi"},
		Env:        []string{"A=1", "B="},
		WorkingDir: "/work",
		Files: map[string][]byte{
			"/etc/app/config.toml": []byte("x = 1\n"),
			"data.txt":             []byte("data"),
		},
	}
	archive, desc := write(t, img)
	l := parse(t, archive)
	checkNames(t, l, desc, "docker.io/library/hello:latest", "latest")

	if l.manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type %q", l.manifest.Config.MediaType)
	}
	if l.manifest.ArtifactType != "" {
		t.Errorf("artifactType %q on an image manifest", l.manifest.ArtifactType)
	}
	if len(l.manifest.Layers) != 1 || l.manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("layers = %+v, want one %s", l.manifest.Layers, ocispec.MediaTypeImageLayerGzip)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if cfg.Created != nil {
		t.Errorf("created = %v, want none", cfg.Created)
	}
	c := cfg.Config
	if strings.Join(c.Entrypoint, ",") != "/app.wasm" || strings.Join(c.Cmd, ",") != "echo,hi" ||
		strings.Join(c.Env, ",") != "A=1,B=" || c.WorkingDir != "/work" {
		t.Errorf("config = %+v", c)
	}

	// Layer: gzip'd tar whose uncompressed digest is the diff ID.
	raw, files, order := l.layerFiles(t)
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != digest.FromBytes(raw) {
		t.Errorf("rootfs = %+v, want the uncompressed layer digest %s", cfg.RootFS, digest.FromBytes(raw))
	}
	want := []string{"app.wasm", "data.txt", "etc/", "etc/app/", "etc/app/config.toml"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("layer entries %v, want %v", order, want)
	}
	mod := files["app.wasm"]
	if mod.hdr.Typeflag != tar.TypeReg || mod.hdr.Mode != 0o755 || !bytes.Equal(mod.data, testModule) {
		t.Errorf("app.wasm: type %c mode %o content %x", mod.hdr.Typeflag, mod.hdr.Mode, mod.data)
	}
	if f := files["etc/app/config.toml"]; f.hdr.Mode != 0o644 || string(f.data) != "x = 1\n" {
		t.Errorf("config.toml: mode %o content %q", f.hdr.Mode, f.data)
	}
	if d := files["etc/"]; d.hdr.Typeflag != tar.TypeDir || d.hdr.Mode != 0o755 {
		t.Errorf("etc/: type %c mode %o", d.hdr.Typeflag, d.hdr.Mode)
	}
	for name, e := range files {
		if !e.hdr.ModTime.Equal(time.Unix(0, 0)) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("layer %s: mtime %v uid %d gid %d", name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
		}
	}
}

func TestRootfsOptions(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	archive, _ := write(t, ociarchive.Image{
		Name:          "ghcr.io/acme/app:v1",
		Module:        testModule,
		ModulePath:    "/opt/bin/app.wasm",
		Platform:      &ocispec.Platform{OS: "linux", Architecture: "arm64"},
		IndexPlatform: true,
		Created:       created,
		Author:        "me",
	})
	l := parse(t, archive)
	if l.desc.Annotations["io.containerd.image.name"] != "ghcr.io/acme/app:v1" || l.desc.Annotations["org.opencontainers.image.ref.name"] != "v1" {
		t.Errorf("annotations %v", l.desc.Annotations)
	}
	if p := l.desc.Platform; p == nil || p.OS != "linux" || p.Architecture != "arm64" {
		t.Errorf("index platform %+v, want linux/arm64", p)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Created == nil || !cfg.Created.Equal(created) || cfg.Author != "me" {
		t.Errorf("config %+v", cfg)
	}
	if strings.Join(cfg.Config.Entrypoint, ",") != "/opt/bin/app.wasm" {
		t.Errorf("entrypoint %v", cfg.Config.Entrypoint)
	}
	_, files, order := l.layerFiles(t)
	if strings.Join(order, " ") != "opt/ opt/bin/ opt/bin/app.wasm" || files["opt/bin/app.wasm"].hdr.Mode != 0o755 {
		t.Errorf("layer entries %v", order)
	}
}

func TestWasmLayer(t *testing.T) {
	archive, desc := write(t, ociarchive.Image{
		Name:       "hello",
		Module:     testModule,
		Format:     ociarchive.FormatWasmLayer,
		ModulePath: "/hello.wasm",
		Args:       []string{"echo", "hi"},
		Env:        []string{"A=1"},
	})
	l := parse(t, archive)
	checkNames(t, l, desc, "docker.io/library/hello:latest", "latest")
	if l.manifest.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type %q", l.manifest.Config.MediaType)
	}
	if len(l.manifest.Layers) != 1 || l.manifest.Layers[0].MediaType != "application/wasm" {
		t.Fatalf("layers = %+v, want one application/wasm", l.manifest.Layers)
	}
	if got := l.blob(t, l.manifest.Layers[0]); !bytes.Equal(got, testModule) {
		t.Errorf("layer is %x, want the raw module", got)
	}
	if got := l.manifest.Layers[0].Annotations[ocispec.AnnotationTitle]; got != "hello.wasm" {
		t.Errorf("layer title %q", got)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "wasip1" || cfg.Architecture != "wasm" {
		t.Errorf("platform %s/%s, want wasip1/wasm", cfg.OS, cfg.Architecture)
	}
	if strings.Join(cfg.Config.Entrypoint, ",") != "hello.wasm" || strings.Join(cfg.Config.Cmd, ",") != "echo,hi" || strings.Join(cfg.Config.Env, ",") != "A=1" {
		t.Errorf("config %+v", cfg.Config)
	}
	if cfg.RootFS.Type != "layers" || cfg.RootFS.DiffIDs == nil || len(cfg.RootFS.DiffIDs) != 0 {
		t.Errorf("rootfs %+v, want layers with an empty diff_ids list", cfg.RootFS)
	}
	if !strings.Contains(string(l.config), `"diff_ids":[]`) {
		t.Errorf("config %s: want diff_ids []", l.config)
	}
}

func TestArtifact(t *testing.T) {
	archive, desc := write(t, ociarchive.Image{
		Name:   "localhost:5000/tools/hello:1.0",
		Module: testModule,
		Format: ociarchive.FormatArtifact,
	})
	l := parse(t, archive)
	checkNames(t, l, desc, "localhost:5000/tools/hello:1.0", "1.0")
	const cfgType = "application/vnd.wasm.config.v0+json"
	if l.manifest.ArtifactType != cfgType || l.manifest.Config.MediaType != cfgType {
		t.Errorf("artifactType %q config media type %q, want %s", l.manifest.ArtifactType, l.manifest.Config.MediaType, cfgType)
	}
	if l.desc.ArtifactType != cfgType {
		t.Errorf("index descriptor artifactType %q", l.desc.ArtifactType)
	}
	if len(l.manifest.Layers) != 1 || l.manifest.Layers[0].MediaType != "application/wasm" {
		t.Fatalf("layers = %+v", l.manifest.Layers)
	}
	layer := l.manifest.Layers[0]
	if got := l.blob(t, layer); !bytes.Equal(got, testModule) {
		t.Errorf("layer is %x, want the raw module", got)
	}
	var cfg map[string]any
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["architecture"] != "wasm" || cfg["os"] != "wasip1" || cfg["created"] != "1970-01-01T00:00:00Z" {
		t.Errorf("config %s", l.config)
	}
	ld, _ := cfg["layerDigests"].([]any)
	if len(ld) != 1 || ld[0] != layer.Digest.String() {
		t.Errorf("layerDigests %v, want [%s]", cfg["layerDigests"], layer.Digest)
	}
	for _, k := range []string{"component", "author"} {
		if _, ok := cfg[k]; ok {
			t.Errorf("config has %q, want it omitted: %s", k, l.config)
		}
	}

	archive, _ = write(t, ociarchive.Image{
		Name: "hello", Module: testModule, Format: ociarchive.FormatArtifact,
		Author: "someone", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
	})
	l = parse(t, archive)
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["author"] != "someone" || cfg["created"] != "2025-01-02T02:04:05Z" {
		t.Errorf("config %s", l.config)
	}
}

func TestDeterministic(t *testing.T) {
	for _, f := range ociarchive.Formats {
		t.Run(string(f), func(t *testing.T) {
			img := ociarchive.Image{Name: "hello:latest", Module: testModule, Format: f}
			if f == ociarchive.FormatRootfs {
				img.Files = map[string][]byte{"/b": []byte("b"), "/a/x": []byte("x"), "/a/y": nil, "/c/d/e": []byte("e")}
			}
			a, da := write(t, img)
			b, db := write(t, img)
			if !bytes.Equal(a, b) || da.Digest != db.Digest {
				t.Fatal("two writes of the same image differ")
			}
			img.Name = "hello:other"
			c, dc := write(t, img)
			if bytes.Equal(a, c) {
				t.Fatal("a different name gave the same archive")
			}
			if dc.Digest != da.Digest {
				t.Error("the name changed the manifest digest; it should only change index.json")
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string][2]string{
		"hello":                      {"docker.io/library/hello:latest", "latest"},
		"hello:1.0":                  {"docker.io/library/hello:1.0", "1.0"},
		"acme/hello:v2":              {"docker.io/acme/hello:v2", "v2"},
		"docker.io/library/hello":    {"docker.io/library/hello:latest", "latest"},
		"ghcr.io/acme/app:v1":        {"ghcr.io/acme/app:v1", "v1"},
		"localhost:5000/foo":         {"localhost:5000/foo:latest", "latest"},
		"registry.local/wasm/demo:x": {"registry.local/wasm/demo:x", "x"},
	} {
		full, tag, err := ociarchive.NormalizeName(in)
		if err != nil || full != want[0] || tag != want[1] {
			t.Errorf("NormalizeName(%q) = %q, %q, %v; want %q, %q", in, full, tag, err, want[0], want[1])
		}
	}
}

func TestValidation(t *testing.T) {
	component := []byte("\x00asm\x0d\x00\x01\x00")
	ok := ociarchive.Image{Name: "hello:latest", Module: testModule}
	for _, tc := range []struct {
		name  string
		mod   func(*ociarchive.Image)
		field string
	}{
		{"empty module", func(i *ociarchive.Image) { i.Module = nil }, "Module"},
		{"not wasm", func(i *ociarchive.Image) { i.Module = []byte("#!/bin/sh\necho hi\n") }, "Module"},
		{"component", func(i *ociarchive.Image) { i.Module = component }, "Module"},
		{"empty name", func(i *ociarchive.Image) { i.Name = "" }, "Name"},
		{"uppercase name", func(i *ociarchive.Image) { i.Name = "Hello:latest" }, "Name"},
		{"name with space", func(i *ociarchive.Image) { i.Name = "hello world" }, "Name"},
		{"bad tag", func(i *ociarchive.Image) { i.Name = "hello:" }, "Name"},
		{"digest name", func(i *ociarchive.Image) {
			i.Name = "hello@sha256:" + strings.Repeat("a", 64)
		}, "Name"},
		{"unknown format", func(i *ociarchive.Image) { i.Format = "docker" }, "Format"},
		{"root module path", func(i *ociarchive.Image) { i.ModulePath = "/" }, "ModulePath"},
		{"bad env", func(i *ociarchive.Image) { i.Env = []string{"NOEQUALS"} }, "Env"},
		{"empty env key", func(i *ociarchive.Image) { i.Env = []string{"=x"} }, "Env"},
		{"relative workdir", func(i *ociarchive.Image) { i.WorkingDir = "work" }, "WorkingDir"},
		{"file over module", func(i *ociarchive.Image) { i.Files = map[string][]byte{"/app.wasm": nil} }, "Files"},
		{"file is a parent", func(i *ociarchive.Image) { i.Files = map[string][]byte{"/a": nil, "/a/b": nil} }, "Files"},
		{"module under a file", func(i *ociarchive.Image) {
			i.ModulePath = "/bin/app.wasm"
			i.Files = map[string][]byte{"/bin": nil}
		}, "Files"},
		{"root file", func(i *ociarchive.Image) { i.Files = map[string][]byte{"/": nil} }, "Files"},
		{"platform without arch", func(i *ociarchive.Image) { i.Platform = &ocispec.Platform{OS: "linux"} }, "Platform"},
		{"files in wasm-layer", func(i *ociarchive.Image) {
			i.Format = ociarchive.FormatWasmLayer
			i.Files = map[string][]byte{"/x": nil}
		}, "Files"},
		{"platform in wasm-layer", func(i *ociarchive.Image) {
			i.Format = ociarchive.FormatWasmLayer
			i.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
		}, "Platform"},
		{"args in artifact", func(i *ociarchive.Image) {
			i.Format = ociarchive.FormatArtifact
			i.Args = []string{"x"}
		}, "Args"},
		{"env in artifact", func(i *ociarchive.Image) {
			i.Format = ociarchive.FormatArtifact
			i.Env = []string{"A=1"}
		}, "Env"},
		{"workdir in artifact", func(i *ociarchive.Image) {
			i.Format = ociarchive.FormatArtifact
			i.WorkingDir = "/"
		}, "WorkingDir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := ok
			tc.mod(&img)
			var buf bytes.Buffer
			_, err := ociarchive.Write(&buf, img)
			var ve *ociarchive.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError, got %T %v", err, err)
			}
			if ve.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q names field %q, want %q", err, ve.Field, tc.field)
			}
			if !errors.Is(err, ociarchive.ErrInvalid) {
				t.Fatal("errors.Is(err, ErrInvalid) = false")
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

func TestExtraLayers(t *testing.T) {
	mod := []byte("\x00asm\x01\x00\x00\x00")
	extra := []ociarchive.Layer{
		{MediaType: ociarchive.MediaTypeWasmLayer, Data: append(mod[:8:8], 0, 2, 1, 'x'), Title: "second.wasm"},
		{MediaType: "application/octet-stream", Data: []byte("x")},
	}
	for _, f := range []ociarchive.Format{ociarchive.FormatWasmLayer, ociarchive.FormatArtifact} {
		b, _ := write(t, ociarchive.Image{Name: "x:1", Module: mod, Format: f, ExtraLayers: extra})
		m := parse(t, b).manifest
		if len(m.Layers) != 3 || m.Layers[1].Annotations[ocispec.AnnotationTitle] != "second.wasm" || m.Layers[2].MediaType != "application/octet-stream" {
			t.Fatalf("%s: layers %+v", f, m.Layers)
		}
	}
	if _, err := ociarchive.Write(io.Discard, ociarchive.Image{Name: "x:1", Module: mod, ExtraLayers: extra}); !errors.Is(err, ociarchive.ErrInvalid) {
		t.Fatalf("rootfs with extra layers: %v, want ErrInvalid", err)
	}
	bad := []ociarchive.Layer{{Data: []byte("x")}}
	if _, err := ociarchive.Write(io.Discard, ociarchive.Image{Name: "x:1", Module: mod, Format: ociarchive.FormatArtifact, ExtraLayers: bad}); !errors.Is(err, ociarchive.ErrInvalid) {
		t.Fatalf("layer without media type: %v, want ErrInvalid", err)
	}
}

// A native helper as the entrypoint (the benchmarks' runc images).
func TestRootfsExecutableEntrypoint(t *testing.T) {
	archive, _ := write(t, ociarchive.Image{
		Name: "pause:latest", Module: testModule, ModulePath: "/app.wasm",
		Files:       map[string][]byte{"/pause": []byte("\x7fELF"), "/notes": []byte("x")},
		Executables: []string{"/pause"},
		Entrypoint:  "/pause",
	})
	l := parse(t, archive)
	var cfg ocispec.Image
	if err := json.Unmarshal(l.config, &cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, ",") != "/pause" {
		t.Errorf("entrypoint %v, want /pause", cfg.Config.Entrypoint)
	}
	_, files, _ := l.layerFiles(t)
	for name, mode := range map[string]int64{"pause": 0o755, "notes": 0o644, "app.wasm": 0o755} {
		if files[name].hdr.Mode != mode {
			t.Errorf("%s: mode %o, want %o", name, files[name].hdr.Mode, mode)
		}
	}
	for _, bad := range []ociarchive.Image{
		{Name: "a:b", Module: testModule, Executables: []string{"/missing"}},
		{Name: "a:b", Module: testModule, Entrypoint: "relative"},
		{Name: "a:b", Module: testModule, Format: ociarchive.FormatArtifact, Entrypoint: "/x"},
	} {
		if _, err := ociarchive.Write(io.Discard, bad); !errors.Is(err, ociarchive.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
}
