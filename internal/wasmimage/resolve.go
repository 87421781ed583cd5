// Package wasmimage finds the WebAssembly module a container's image keeps
// in containerd's content store.
//
// Two image shapes carry the module as a layer blob that containerd does not
// unpack, so the container's rootfs does not hold it:
//
//   - runwasi's wasm-layer image: an OCI/Docker image config with os wasip1
//     (or wasi) and architecture wasm, module layers of media type
//     application/wasm (filesystem layers next to them are unpacked into the
//     rootfs as usual);
//   - the CNCF Wasm OCI artifact: config (or artifactType)
//     application/vnd.wasm.config.v0+json, application/wasm layers.
//
// Resolve walks container → image → manifest → layer without reading the
// module; Module.Read loads the bytes, so the digest can key a compile cache.
package wasmimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// MediaTypeWasmLayer is the media type of a layer holding a module.
	MediaTypeWasmLayer = "application/wasm"
	// MediaTypeWasmConfig is the config media type (and artifactType) of
	// the CNCF Wasm OCI artifact.
	MediaTypeWasmConfig = "application/vnd.wasm.config.v0+json"
	// MediaTypeComponentLayer is the layer media type of Bytecode Alliance
	// component images, which are not supported.
	MediaTypeComponentLayer = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm"

	// maxIndexDepth bounds nested image indexes.
	maxIndexDepth = 4
)

// ErrNotWasmImage is wrapped by Resolve's error when the container's image
// is not a Wasm image (wasm-layer image or Wasm artifact), so the module can
// only come from the container's rootfs.
var ErrNotWasmImage = errors.New("not a Wasm image")

// Resolve returns the module the image of container containerID provides.
// The context carries the containerd namespace (namespaces.WithNamespace).
// arg0 (the process's args[0]) chooses among several application/wasm
// layers by their org.opencontainers.image.title annotation (compared with
// path.Base(arg0)) or digest. Resolve reads the index, manifest and config,
// never the module.
//
// Errors name the container and image and wrap ErrNotWasmImage, or an
// errdefs error: ErrNotFound (unknown container or image, missing blob),
// ErrNotImplemented (components), ErrInvalidArgument (unknown layer types,
// no module layer, ambiguous layers), ErrDataLoss (a blob whose stored size
// or digest is not its descriptor's).
func Resolve(ctx context.Context, s Store, containerID, arg0 string) (Module, error) {
	name, err := s.ContainerImage(ctx, containerID)
	if err != nil {
		return Module{}, fmt.Errorf("look up the image of container %q: %w", containerID, err)
	}
	if name == "" {
		return Module{}, fmt.Errorf("container %q was created without an image: %w", containerID, ErrNotWasmImage)
	}
	m, err := resolveImage(ctx, s, name, arg0)
	if err != nil {
		return Module{}, fmt.Errorf("container %q image %q: %w", containerID, name, err)
	}
	log.G(ctx).WithFields(log.Fields{
		"id":     containerID,
		"image":  name,
		"module": m.Name,
		"digest": m.Digest,
		"size":   m.Size,
	}).Debug("resolved Wasm module from image")
	return m, nil
}

type shape string

const (
	shapeArtifact  shape = "Wasm artifact"
	shapeWasmLayer shape = "wasm-layer image"
)

func resolveImage(ctx context.Context, s Store, name, arg0 string) (Module, error) {
	target, err := s.ImageTarget(ctx, name)
	if err != nil {
		return Module{}, fmt.Errorf("get image: %w", err)
	}
	mdesc, m, err := selectManifest(ctx, s, target)
	if err != nil {
		return Module{}, err
	}
	sh, err := classify(ctx, s, mdesc, m)
	if err != nil {
		return Module{}, fmt.Errorf("manifest %s: %w", mdesc.Digest, err)
	}
	layers, err := wasmLayers(sh, m)
	if err != nil {
		return Module{}, fmt.Errorf("%s manifest %s: %w", sh, mdesc.Digest, err)
	}
	l, err := pickLayer(layers, arg0)
	if err != nil {
		return Module{}, fmt.Errorf("%s manifest %s: %w", sh, mdesc.Digest, err)
	}
	return Module{Digest: l.Digest, Size: l.Size, Name: layerName(l), MediaType: l.MediaType}, nil
}

// candidate is a manifest listed in an index.
type candidate struct {
	desc     ocispec.Descriptor
	manifest *ocispec.Manifest // read only when desc has no platform
	platform *ocispec.Platform // from desc, else from the config
}

// selectManifest returns target when it is a manifest. For an index it picks,
// in order: a wasip1/wasm (or wasi/wasm) manifest; a Wasm artifact; the best
// manifest for the host platform. Platforms come from the index descriptors
// or, when absent, from the manifests' configs.
func selectManifest(ctx context.Context, s Store, target ocispec.Descriptor) (ocispec.Descriptor, ocispec.Manifest, error) {
	if images.IsManifestType(target.MediaType) {
		m, err := readManifest(ctx, s, target)
		return target, m, err
	}
	if !images.IsIndexType(target.MediaType) {
		return ocispec.Descriptor{}, ocispec.Manifest{}, fmt.Errorf("image target %s has media type %q, neither an index nor a manifest: %w", target.Digest, target.MediaType, ErrNotWasmImage)
	}
	descs, err := indexManifests(ctx, s, target, 0)
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, err
	}
	cands := make([]candidate, 0, len(descs))
	for _, d := range descs {
		c, err := describe(ctx, s, d)
		if err != nil {
			return ocispec.Descriptor{}, ocispec.Manifest{}, fmt.Errorf("index %s: %w", target.Digest, err)
		}
		cands = append(cands, c)
	}

	chosen := bestForPlatform(cands, wasmPlatforms)
	if chosen == nil {
		for i := range cands {
			if isArtifact(cands[i].desc, cands[i].manifest) {
				chosen = &cands[i]
				break
			}
		}
	}
	if chosen == nil {
		chosen = bestForPlatform(cands, platforms.Default())
	}
	if chosen == nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, fmt.Errorf("index %s lists no wasip1/wasm manifest, no Wasm artifact and no manifest for %s: %w",
			target.Digest, platforms.Format(platforms.DefaultSpec()), ErrNotWasmImage)
	}
	log.G(ctx).WithField("index", target.Digest).WithField("manifest", chosen.desc.Digest).Debug("selected manifest from index")
	if chosen.manifest != nil {
		return chosen.desc, *chosen.manifest, nil
	}
	m, err := readManifest(ctx, s, chosen.desc)
	return chosen.desc, m, err
}

// wasmPlatforms matches wasip1/wasm, preferred, and wasi/wasm.
var wasmPlatforms = platforms.Ordered(
	ocispec.Platform{OS: "wasip1", Architecture: "wasm"},
	ocispec.Platform{OS: "wasi", Architecture: "wasm"},
)

func bestForPlatform(cands []candidate, mc platforms.MatchComparer) *candidate {
	var best *candidate
	for i := range cands {
		c := &cands[i]
		if c.platform == nil || !mc.Match(*c.platform) {
			continue
		}
		if best == nil || mc.Less(*c.platform, *best.platform) {
			best = c
		}
	}
	return best
}

// indexManifests lists the manifests of an index, flattening nested indexes.
func indexManifests(ctx context.Context, s Store, desc ocispec.Descriptor, depth int) ([]ocispec.Descriptor, error) {
	if depth > maxIndexDepth {
		return nil, fmt.Errorf("index %s: indexes nested more than %d deep: %w", desc.Digest, maxIndexDepth, errdefs.ErrInvalidArgument)
	}
	var idx ocispec.Index
	if err := readJSON(ctx, s, desc, &idx); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		switch {
		case images.IsManifestType(d.MediaType):
			out = append(out, d)
		case images.IsIndexType(d.MediaType):
			nested, err := indexManifests(ctx, s, d, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, nested...)
		}
	}
	return out, nil
}

// describe finds the platform of an index entry, reading the manifest and
// its config when the descriptor does not carry one.
func describe(ctx context.Context, s Store, d ocispec.Descriptor) (candidate, error) {
	c := candidate{desc: d}
	if d.Platform != nil {
		p := platforms.Normalize(*d.Platform)
		c.platform = &p
		return c, nil
	}
	m, err := readManifest(ctx, s, d)
	if err != nil {
		return c, err
	}
	c.manifest = &m
	if !images.IsConfigType(m.Config.MediaType) && m.Config.MediaType != MediaTypeWasmConfig {
		return c, nil
	}
	var p ocispec.Platform // the Wasm artifact config has os and architecture too
	if err := readJSON(ctx, s, m.Config, &p); err != nil {
		return c, fmt.Errorf("manifest %s config: %w", d.Digest, err)
	}
	if p.OS != "" || p.Architecture != "" {
		p = platforms.Normalize(p)
		c.platform = &p
	}
	return c, nil
}

func isArtifact(desc ocispec.Descriptor, m *ocispec.Manifest) bool {
	if desc.ArtifactType == MediaTypeWasmConfig {
		return true
	}
	return m != nil && (m.ArtifactType == MediaTypeWasmConfig || m.Config.MediaType == MediaTypeWasmConfig)
}

// artifactConfig is the part of the Wasm artifact config Resolve checks.
type artifactConfig struct {
	OS        string          `json:"os"`
	Component json.RawMessage `json:"component"`
}

// classify decides the image shape from the manifest and its config.
func classify(ctx context.Context, s Store, mdesc ocispec.Descriptor, m ocispec.Manifest) (shape, error) {
	if isArtifact(mdesc, &m) {
		if m.Config.MediaType == MediaTypeWasmConfig {
			var c artifactConfig
			if err := readJSON(ctx, s, m.Config, &c); err != nil {
				return "", fmt.Errorf("config: %w", err)
			}
			if c.OS == "wasip2" || (len(c.Component) > 0 && string(c.Component) != "null") {
				return "", fmt.Errorf("the Wasm artifact config %s describes a component (os %q): components are not supported: %w", m.Config.Digest, c.OS, errdefs.ErrNotImplemented)
			}
		}
		return shapeArtifact, nil
	}
	if !images.IsConfigType(m.Config.MediaType) {
		return "", fmt.Errorf("config media type %q is neither %s nor an image config: %w", m.Config.MediaType, MediaTypeWasmConfig, ErrNotWasmImage)
	}
	var p ocispec.Platform
	if err := readJSON(ctx, s, m.Config, &p); err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	p = platforms.Normalize(p)
	switch {
	case wasmPlatforms.Match(p):
		return shapeWasmLayer, nil
	case p.OS == "wasip2" && p.Architecture == "wasm":
		return "", fmt.Errorf("image platform %s: components are not supported: %w", platforms.Format(p), errdefs.ErrNotImplemented)
	default:
		return "", fmt.Errorf("image platform %s is not wasip1/wasm: %w", platforms.Format(p), ErrNotWasmImage)
	}
}

// wasmLayers returns the application/wasm layers of m. Filesystem layers
// are allowed next to them in a wasm-layer image (containerd unpacks those
// into the rootfs); any other layer type is an error.
func wasmLayers(sh shape, m ocispec.Manifest) ([]ocispec.Descriptor, error) {
	var wasm []ocispec.Descriptor
	fsLayers := 0
	for _, l := range m.Layers {
		switch {
		case l.MediaType == MediaTypeWasmLayer:
			// A module is read by digest: a layer without a valid one names
			// nothing to read.
			if err := l.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("%s layer with digest %q: %v: %w", MediaTypeWasmLayer, l.Digest, err, errdefs.ErrInvalidArgument)
			}
			wasm = append(wasm, l)
		case l.MediaType == MediaTypeComponentLayer:
			return nil, fmt.Errorf("layer %s has media type %q: components are not supported: %w", l.Digest, l.MediaType, errdefs.ErrNotImplemented)
		case sh == shapeWasmLayer && images.IsLayerType(l.MediaType):
			fsLayers++
		default:
			return nil, fmt.Errorf("unknown image layer type %q (layer %s); want %s: %w", l.MediaType, l.Digest, MediaTypeWasmLayer, errdefs.ErrInvalidArgument)
		}
	}
	if len(wasm) > 0 {
		return wasm, nil
	}
	if fsLayers > 0 {
		// e.g. a `docker buildx --platform wasi/wasm` image: the module is a
		// file in the unpacked rootfs, if anywhere.
		return nil, fmt.Errorf("%d filesystem layer(s) and no %s layer, so the module can only be in the rootfs: %w", fsLayers, MediaTypeWasmLayer, ErrNotWasmImage)
	}
	return nil, fmt.Errorf("no %s layer: %w", MediaTypeWasmLayer, errdefs.ErrInvalidArgument)
}

// pickLayer returns the only layer, or the one args[0] names.
func pickLayer(layers []ocispec.Descriptor, arg0 string) (ocispec.Descriptor, error) {
	if len(layers) == 1 {
		return layers[0], nil
	}
	base := path.Base(arg0)
	var match []ocispec.Descriptor
	for _, l := range layers {
		if t := l.Annotations[ocispec.AnnotationTitle]; (t != "" && t == base) || l.Digest.String() == arg0 {
			match = append(match, l)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	names := make([]string, len(layers))
	for i, l := range layers {
		if t := l.Annotations[ocispec.AnnotationTitle]; t != "" {
			names[i] = fmt.Sprintf("%q (%s)", t, l.Digest)
		} else {
			names[i] = l.Digest.String() + " (no title)"
		}
	}
	if len(match) == 0 {
		return ocispec.Descriptor{}, fmt.Errorf("%d %s layers and args[0] %q names none of them; set args[0] (the command or entrypoint) to a layer's %s annotation or digest, one of: %s: %w",
			len(layers), MediaTypeWasmLayer, arg0, ocispec.AnnotationTitle, strings.Join(names, ", "), errdefs.ErrInvalidArgument)
	}
	return ocispec.Descriptor{}, fmt.Errorf("args[0] %q matches %d of the %s layers (duplicate titles); set args[0] to a layer digest, one of: %s: %w",
		arg0, len(match), MediaTypeWasmLayer, strings.Join(names, ", "), errdefs.ErrInvalidArgument)
}

func layerName(l ocispec.Descriptor) string {
	if t := l.Annotations[ocispec.AnnotationTitle]; t != "" {
		return t
	}
	return l.Digest.String()
}

func readManifest(ctx context.Context, s Store, desc ocispec.Descriptor) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := readJSON(ctx, s, desc, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if len(m.Layers) == 0 && m.Config.Digest == "" {
		return m, fmt.Errorf("manifest blob %s has no config and no layers (is it an index?): %w", desc.Digest, errdefs.ErrInvalidArgument)
	}
	return m, nil
}

// readJSON decodes the blob desc (at most maxDocumentSize bytes) into v.
func readJSON(ctx context.Context, s Store, desc ocispec.Descriptor, v any) error {
	b, err := readBlob(ctx, s, desc, maxDocumentSize)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s (%s): %v: %w", desc.Digest, desc.MediaType, err, errdefs.ErrInvalidArgument)
	}
	return nil
}
