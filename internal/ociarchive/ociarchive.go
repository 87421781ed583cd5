// Package ociarchive writes OCI image-layout tar archives holding one
// WebAssembly (WASI preview 1) module, ready for
//
//	ctr -n k8s.io images import FILE.tar
//
// Output is deterministic: fixed mtimes and owners, sorted entries, no
// timestamps unless Image.Created is set, so the same input always yields the
// same bytes and digests.
//
// Three image shapes are supported (see Format). Notes on how containerd
// v2.4 imports them (core/images/archive.ImportIndex and the transfer
// service's import path used by ctr):
//
//   - Only an "oci-layout" file with imageLayoutVersion 1.0.0 plus index.json
//     are needed; every other regular file is ingested as a blob, and
//     index.json is the root.
//   - The image name comes from the io.containerd.image.name annotation on
//     the manifest descriptor in index.json (a full, normalized reference such
//     as docker.io/library/hello:latest); org.opencontainers.image.ref.name
//     (the tag) is only used when that is absent, prefixed by --base-name or
//     by "import-YYYY-MM-DD".
//   - Without --all-platforms, ctr keeps only index.json descriptors whose
//     platform is absent or matches the host. So by default this package
//     leaves the platform off the descriptor (containerd reads it from the
//     config when needed); set Image.IndexPlatform to add it, and then a
//     wasip1/wasm image needs --all-platforms (or --platform wasip1/wasm).
//   - Layers of media type application/wasm are not unpacked into a
//     snapshot (containerd does not consider them layers); they stay in the
//     content store. The rootfs format's gzip layer is unpacked normally when
//     the config platform matches the host.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	_ "crypto/sha256" // registers sha256 for go-digest
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	distref "github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Format selects the shape of the image.
type Format string

const (
	// FormatRootfs is a normal Linux image whose single gzip'd tar layer holds
	// the module at ModulePath (mode 0755) plus Files; config os linux,
	// Entrypoint [ModulePath]. The default.
	FormatRootfs Format = "rootfs"
	// FormatWasmLayer is runwasi's format: config os wasip1, architecture
	// wasm, one layer of media type application/wasm holding the raw module,
	// Entrypoint [base name of ModulePath].
	FormatWasmLayer Format = "wasm-layer"
	// FormatArtifact is the CNCF TAG-runtime Wasm OCI artifact: config and
	// artifactType application/vnd.wasm.config.v0+json, one application/wasm
	// layer. It carries no entrypoint, args, env or working directory.
	FormatArtifact Format = "artifact"
)

// Formats lists the supported formats.
var Formats = []Format{FormatRootfs, FormatWasmLayer, FormatArtifact}

const (
	// MediaTypeWasmLayer is the media type of a layer holding a raw module.
	MediaTypeWasmLayer = "application/wasm"
	// MediaTypeWasmConfig is the config (and artifactType) media type of the
	// CNCF Wasm OCI artifact.
	MediaTypeWasmConfig = "application/vnd.wasm.config.v0+json"
	// AnnotationImageName is containerd's full image name annotation.
	AnnotationImageName = "io.containerd.image.name"
	// DefaultModulePath is where the module goes when ModulePath is empty.
	DefaultModulePath = "/app.wasm"

	wasmOS   = "wasip1"
	wasmArch = "wasm"
)

// epoch is the mtime of every tar entry.
var epoch = time.Unix(0, 0).UTC()

// Image describes the image to write.
type Image struct {
	// Name is the image reference, e.g. "hello:latest" or
	// "ghcr.io/org/app:v1". Short names are normalized as docker and
	// containerd do (hello -> docker.io/library/hello:latest). Required; a
	// digest is not allowed.
	Name string
	// Module is the WebAssembly core module binary. Required.
	Module []byte
	// ModulePath is the module's absolute path in the rootfs layer (default
	// /app.wasm). For wasm-layer and artifact only its base name is used
	// (entrypoint and layer title).
	ModulePath string
	// Format is the image shape; empty means FormatRootfs.
	Format Format
	// Args become the config's Cmd (arguments after the entrypoint).
	// Not for FormatArtifact.
	Args []string
	// Env entries are KEY=VALUE. Not for FormatArtifact.
	Env []string
	// WorkingDir is an absolute directory. Not for FormatArtifact.
	WorkingDir string
	// Files are extra files for the rootfs layer, by absolute path, written
	// with mode 0644 (parents 0755). FormatRootfs only.
	Files map[string][]byte
	// Executables are the paths among Files written with mode 0755 (native
	// helpers, e.g. a pause binary). FormatRootfs only.
	Executables []string
	// Entrypoint, when set, is the config's entrypoint instead of the
	// module's path (an image whose entrypoint is a native helper).
	// FormatRootfs only.
	Entrypoint string
	// Platform overrides the rootfs image's platform (default linux and the
	// host's runtime.GOARCH). FormatRootfs only; the other formats are always
	// wasip1/wasm.
	Platform *ocispec.Platform
	// IndexPlatform, when true, adds the image platform to the manifest
	// descriptor in index.json. See the package doc: for wasip1/wasm images
	// that makes a plain `ctr images import` skip the image.
	IndexPlatform bool
	// Created is recorded in the config when non-zero. The artifact config
	// requires it and uses the Unix epoch when zero.
	Created time.Time
	// Author is recorded in the config when non-empty.
	Author string
	// ExtraLayers are added after the module's layer (wasm-layer and
	// artifact formats only): more modules, or layers of other media types.
	ExtraLayers []Layer
}

// Layer is an extra layer of a wasm-layer image or artifact.
type Layer struct {
	MediaType string
	Data      []byte
	// Title is recorded as org.opencontainers.image.title when non-empty.
	Title string
}

// ValidationError reports an invalid Image field.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return "ociarchive: invalid " + e.Field + ": " + e.Msg }

// ErrInvalid matches every *ValidationError with errors.Is.
var ErrInvalid = errors.New("ociarchive: invalid image")

// Is makes errors.Is(err, ErrInvalid) true for validation errors.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, a ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// NormalizeName returns the full reference containerd stores an image under
// (e.g. docker.io/library/hello:latest) and its tag.
func NormalizeName(name string) (full, tag string, err error) {
	if strings.TrimSpace(name) == "" {
		return "", "", invalid("Name", "empty")
	}
	ref, err := distref.ParseDockerRef(name)
	if err != nil {
		return "", "", invalid("Name", "%q: %v", name, err)
	}
	if _, ok := ref.(distref.Digested); ok {
		return "", "", invalid("Name", "%q: digest references are not supported, use a tag", name)
	}
	tagged, ok := ref.(distref.Tagged)
	if !ok { // ParseDockerRef adds :latest, so this should not happen
		return "", "", invalid("Name", "%q: no tag", name)
	}
	return ref.String(), tagged.Tag(), nil
}

// cleanAbs turns p into a clean absolute path; it rejects "/" and "".
func cleanAbs(field, p string) (string, error) {
	if p == "" {
		return "", invalid(field, "empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", invalid(field, "%q contains a NUL byte", p)
	}
	c := path.Clean("/" + p)
	if c == "/" {
		return "", invalid(field, "%q does not name a file", p)
	}
	return c, nil
}

// checkModule verifies the WebAssembly magic number and core module version.
func checkModule(m []byte) error {
	if len(m) == 0 {
		return invalid("Module", "empty")
	}
	if len(m) < 8 || !bytes.Equal(m[:4], []byte("\x00asm")) {
		return invalid("Module", "not a WebAssembly binary (missing \\0asm magic)")
	}
	if !bytes.Equal(m[4:8], []byte{1, 0, 0, 0}) {
		return invalid("Module", "not a core module (version bytes %x); components are not supported", m[4:8])
	}
	return nil
}

// spec is the validated, normalized form of an Image.
type spec struct {
	Image
	fullName, tag string
	modulePath    string
	files         map[string][]byte // clean absolute path -> content
	executable    map[string]bool   // clean absolute paths written 0755
	platform      ocispec.Platform
}

func validate(img Image) (*spec, error) {
	s := &spec{Image: img}
	if s.Format == "" {
		s.Format = FormatRootfs
	}
	switch s.Format {
	case FormatRootfs, FormatWasmLayer, FormatArtifact:
	default:
		return nil, invalid("Format", "unknown format %q (want one of %v)", img.Format, Formats)
	}
	if len(img.ExtraLayers) > 0 && s.Format == FormatRootfs {
		return nil, invalid("ExtraLayers", "only wasm-layer and artifact images have extra layers")
	}
	for i, l := range img.ExtraLayers {
		if l.MediaType == "" || len(l.Data) == 0 {
			return nil, invalid(fmt.Sprintf("ExtraLayers[%d]", i), "needs a media type and content")
		}
	}
	var err error
	if s.fullName, s.tag, err = NormalizeName(img.Name); err != nil {
		return nil, err
	}
	if err := checkModule(img.Module); err != nil {
		return nil, err
	}
	mp := img.ModulePath
	if mp == "" {
		mp = DefaultModulePath
	}
	if s.modulePath, err = cleanAbs("ModulePath", mp); err != nil {
		return nil, err
	}
	for i, kv := range img.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, invalid("Env", "entry %d (%q) is not KEY=VALUE", i, kv)
		}
	}
	if img.WorkingDir != "" && !path.IsAbs(img.WorkingDir) {
		return nil, invalid("WorkingDir", "%q is not absolute", img.WorkingDir)
	}
	if s.Format != FormatRootfs {
		if len(img.Files) > 0 || len(img.Executables) > 0 || img.Entrypoint != "" {
			return nil, invalid("Files", "extra files and an entrypoint are only supported by format %q", FormatRootfs)
		}
		if img.Platform != nil {
			return nil, invalid("Platform", "only supported by format %q (%q is always %s/%s)", FormatRootfs, s.Format, wasmOS, wasmArch)
		}
		s.platform = ocispec.Platform{OS: wasmOS, Architecture: wasmArch}
	}
	if s.Format == FormatArtifact {
		switch {
		case len(img.Args) > 0:
			return nil, invalid("Args", "not supported by format %q", FormatArtifact)
		case len(img.Env) > 0:
			return nil, invalid("Env", "not supported by format %q", FormatArtifact)
		case img.WorkingDir != "":
			return nil, invalid("WorkingDir", "not supported by format %q", FormatArtifact)
		}
	}
	if s.Format == FormatRootfs {
		s.platform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
		if p := img.Platform; p != nil {
			if p.OS == "" || p.Architecture == "" {
				return nil, invalid("Platform", "os and architecture are required")
			}
			s.platform = *p
		}
		s.files = map[string][]byte{s.modulePath: img.Module}
		for p, b := range img.Files {
			c, err := cleanAbs("Files", p)
			if err != nil {
				return nil, err
			}
			if _, dup := s.files[c]; dup {
				return nil, invalid("Files", "%q collides with the module or another file", p)
			}
			s.files[c] = b
		}
		s.executable = map[string]bool{s.modulePath: true}
		for _, p := range img.Executables {
			c, err := cleanAbs("Executables", p)
			if err != nil {
				return nil, err
			}
			if _, ok := s.files[c]; !ok {
				return nil, invalid("Executables", "%q is not among Files", p)
			}
			s.executable[c] = true
		}
		if img.Entrypoint != "" && !path.IsAbs(img.Entrypoint) {
			return nil, invalid("Entrypoint", "%q is not absolute", img.Entrypoint)
		}
		// A file may not also be the parent directory of another file.
		for p := range s.files {
			for d := path.Dir(p); d != "/"; d = path.Dir(d) {
				if _, isFile := s.files[d]; isFile {
					return nil, invalid("Files", "%q is both a file and the parent directory of %q", d, p)
				}
			}
		}
	}
	return s, nil
}

// blobs collects content-addressed blobs.
type blobs map[digest.Digest][]byte

func (b blobs) add(mediaType string, data []byte) ocispec.Descriptor {
	d := digest.FromBytes(data)
	b[d] = data
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (b blobs) addJSON(mediaType string, v any) (ocispec.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return b.add(mediaType, data), nil
}

// Write writes the OCI image-layout tar archive for img to w and returns the
// manifest descriptor as recorded in index.json (with its annotations).
func Write(w io.Writer, img Image) (ocispec.Descriptor, error) {
	s, err := validate(img)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	bl := blobs{}
	var manifest ocispec.Manifest
	switch s.Format {
	case FormatRootfs:
		manifest, err = s.rootfsManifest(bl)
	case FormatWasmLayer:
		manifest, err = s.wasmLayerManifest(bl)
	case FormatArtifact:
		manifest, err = s.artifactManifest(bl)
	}
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest.Versioned = specs.Versioned{SchemaVersion: 2}
	manifest.MediaType = ocispec.MediaTypeImageManifest
	mdesc, err := bl.addJSON(ocispec.MediaTypeImageManifest, manifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mdesc.Annotations = map[string]string{
		AnnotationImageName:       s.fullName,
		ocispec.AnnotationRefName: s.tag,
	}
	if s.IndexPlatform {
		p := s.platform
		mdesc.Platform = &p
	}
	if s.Format == FormatArtifact {
		mdesc.ArtifactType = MediaTypeWasmConfig
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mdesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return ocispec.Descriptor{}, err
	}

	// Entries in sorted order: blobs/, blobs/sha256/, the blobs by digest,
	// index.json, oci-layout.
	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(dirHeader(dir)); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	digests := make([]digest.Digest, 0, len(bl))
	for d := range bl {
		digests = append(digests, d)
	}
	sort.Slice(digests, func(i, j int) bool { return digests[i] < digests[j] })
	for _, d := range digests {
		if err := writeFile(tw, "blobs/"+d.Algorithm().String()+"/"+d.Encoded(), 0o644, bl[d]); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := writeFile(tw, ocispec.ImageIndexFile, 0o644, indexJSON); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := writeFile(tw, ocispec.ImageLayoutFile, 0o644, layoutJSON); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	return mdesc, nil
}

func (s *spec) created() *time.Time {
	if s.Created.IsZero() {
		return nil
	}
	t := s.Created.UTC()
	return &t
}

func (s *spec) imageConfig(entrypoint string) ocispec.ImageConfig {
	return ocispec.ImageConfig{
		Entrypoint: []string{entrypoint},
		Cmd:        s.Args,
		Env:        s.Env,
		WorkingDir: s.WorkingDir,
	}
}

func (s *spec) rootfsManifest(bl blobs) (ocispec.Manifest, error) {
	layerTar, err := s.layerTar()
	if err != nil {
		return ocispec.Manifest{}, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz) // zero header: no name, no mtime
	if _, err := zw.Write(layerTar); err != nil {
		return ocispec.Manifest{}, err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Manifest{}, err
	}
	layer := bl.add(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	config, err := bl.addJSON(ocispec.MediaTypeImageConfig, ocispec.Image{
		Created:  s.created(),
		Author:   s.Author,
		Platform: s.platform,
		Config:   s.imageConfig(cmp.Or(s.Entrypoint, s.modulePath)),
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layerTar)}},
	})
	if err != nil {
		return ocispec.Manifest{}, err
	}
	return ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}}, nil
}

// layerTar builds the uncompressed rootfs layer: parent directories (0755),
// the module (0755) and extra files (0644), in path order.
func (s *spec) layerTar() ([]byte, error) {
	dirs := map[string]bool{}
	for p := range s.files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	paths := make([]string, 0, len(dirs)+len(s.files))
	for d := range dirs {
		paths = append(paths, d)
	}
	for p := range s.files {
		paths = append(paths, p)
	}
	sort.Strings(paths) // a parent sorts before its children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		name := strings.TrimPrefix(p, "/")
		var err error
		switch {
		case dirs[p]:
			err = tw.WriteHeader(dirHeader(name + "/"))
		case s.executable[p]:
			err = writeFile(tw, name, 0o755, s.files[p])
		default:
			err = writeFile(tw, name, 0o644, s.files[p])
		}
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *spec) wasmLayer(bl blobs) ocispec.Descriptor {
	layer := bl.add(MediaTypeWasmLayer, s.Module)
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: path.Base(s.modulePath)}
	return layer
}

// layers is the module's layer followed by the extra layers.
func (s *spec) layers(bl blobs) []ocispec.Descriptor {
	out := []ocispec.Descriptor{s.wasmLayer(bl)}
	for _, l := range s.ExtraLayers {
		d := bl.add(l.MediaType, l.Data)
		if l.Title != "" {
			d.Annotations = map[string]string{ocispec.AnnotationTitle: l.Title}
		}
		out = append(out, d)
	}
	return out
}

func (s *spec) wasmLayerManifest(bl blobs) (ocispec.Manifest, error) {
	layers := s.layers(bl)
	config, err := bl.addJSON(ocispec.MediaTypeImageConfig, ocispec.Image{
		Created:  s.created(),
		Author:   s.Author,
		Platform: s.platform,
		Config:   s.imageConfig(path.Base(s.modulePath)),
		// The wasm layer is not a filesystem layer: no diff IDs.
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}},
	})
	if err != nil {
		return ocispec.Manifest{}, err
	}
	return ocispec.Manifest{Config: config, Layers: layers}, nil
}

// WasmConfig is the config of the CNCF TAG-runtime Wasm OCI artifact
// (media type application/vnd.wasm.config.v0+json).
type WasmConfig struct {
	Created      string   `json:"created"`
	Author       string   `json:"author,omitempty"`
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	LayerDigests []string `json:"layerDigests"`
	// Component is only for components (os wasip2); always omitted here.
	Component json.RawMessage `json:"component,omitempty"`
}

func (s *spec) artifactManifest(bl blobs) (ocispec.Manifest, error) {
	layers := s.layers(bl)
	var digests []string
	for _, l := range layers {
		digests = append(digests, l.Digest.String())
	}
	created := epoch
	if c := s.created(); c != nil {
		created = *c
	}
	config, err := bl.addJSON(MediaTypeWasmConfig, WasmConfig{
		Created:      created.Format(time.RFC3339),
		Author:       s.Author,
		Architecture: wasmArch,
		OS:           wasmOS,
		LayerDigests: digests,
	})
	if err != nil {
		return ocispec.Manifest{}, err
	}
	return ocispec.Manifest{
		ArtifactType: MediaTypeWasmConfig,
		Config:       config,
		Layers:       layers,
	}, nil
}

func dirHeader(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
