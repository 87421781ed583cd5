// Command wasm-image packages a WebAssembly module as an OCI image-layout tar
// archive for `ctr -n k8s.io images import OUT.tar`.
//
//	wasm-image -module FILE -name NAME -o OUT.tar [-format rootfs|wasm-layer|artifact]
//	           [-path /app.wasm] [-arg X]... [-env K=V]... [-workdir DIR]
//	           [-file SRC:DEST]... [-exec SRC:DEST]... [-entrypoint PATH]
//	           [-layer FILE:MEDIATYPE[:TITLE]]...
//	           [-platform os/arch[/variant]] [-index-platform]
//	           [-created RFC3339] [-author NAME]
//
// It prints the manifest digest and the full image name. Bad flags or input
// exit 2; I/O errors exit 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/ociarchive"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasm-image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		module   = fs.String("module", "", "WebAssembly module `file` (required)")
		name     = fs.String("name", "", "image `name`, e.g. hello:latest (normalized to docker.io/library/hello:latest) (required)")
		out      = fs.String("o", "", "output archive `file`, - for stdout (required)")
		format   = fs.String("format", string(ociarchive.FormatRootfs), "image format: rootfs, wasm-layer or artifact")
		path     = fs.String("path", ociarchive.DefaultModulePath, "module `path` in the image (rootfs); its base name names the module otherwise")
		workdir  = fs.String("workdir", "", "working `dir`ectory (absolute)")
		platform = fs.String("platform", "", "rootfs image platform `os/arch[/variant]` (default linux/<host arch>)")
		indexPl  = fs.Bool("index-platform", false, "also record the platform on the index.json descriptor (wasip1 images then need ctr import --all-platforms)")
		created  = fs.String("created", "", "creation `time` (RFC 3339) to record; default none (artifact: 1970-01-01T00:00:00Z)")
		author   = fs.String("author", "", "image `author`")
		entry    = fs.String("entrypoint", "", "entrypoint `path` instead of the module's, e.g. a native helper from -exec (rootfs)")
		argv     list
		env      list
		files    list
		execs    list
		layers   list
	)
	fs.Var(&argv, "arg", "argument passed to the module (repeatable)")
	fs.Var(&env, "env", "environment variable `K=V` (repeatable)")
	fs.Var(&files, "file", "extra file `SRC:DEST` for the rootfs layer (repeatable)")
	fs.Var(&execs, "exec", "extra executable file `SRC:DEST` (mode 0755) for the rootfs layer, e.g. a native binary (repeatable)")
	fs.Var(&layers, "layer", "extra layer `FILE:MEDIATYPE[:TITLE]` after the module's (wasm-layer, artifact; repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wasm-image -module FILE -name NAME -o OUT.tar [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "wasm-image: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run wasm-image -h for usage")
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected arguments: %q", fs.Args())
	}
	for _, req := range []struct{ flag, value string }{{"module", *module}, {"name", *name}, {"o", *out}} {
		if req.value == "" {
			return usageErr("-%s is required", req.flag)
		}
	}

	img := ociarchive.Image{
		Name:          *name,
		ModulePath:    *path,
		Format:        ociarchive.Format(*format),
		Args:          argv,
		Env:           env,
		WorkingDir:    *workdir,
		IndexPlatform: *indexPl,
		Author:        *author,
		Entrypoint:    *entry,
	}
	if *platform != "" {
		parts := strings.Split(*platform, "/")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return usageErr("-platform %q: want os/arch[/variant]", *platform)
		}
		img.Platform = &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			img.Platform.Variant = parts[2]
		}
	}
	if *created != "" {
		t, err := time.Parse(time.RFC3339, *created)
		if err != nil {
			return usageErr("-created: %v", err)
		}
		img.Created = t
	}
	var err error
	if img.Module, err = os.ReadFile(*module); err != nil {
		return usageErr("-module: %v", err)
	}
	for i, f := range append(files, execs...) {
		src, dest, ok := strings.Cut(f, ":")
		if !ok || src == "" || dest == "" {
			return usageErr("-file %q: want SRC:DEST", f)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return usageErr("-file: %v", err)
		}
		if img.Files == nil {
			img.Files = map[string][]byte{}
		}
		img.Files[dest] = b
		if i >= len(files) {
			img.Executables = append(img.Executables, dest)
		}
	}
	for _, l := range layers {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return usageErr("-layer %q: want FILE:MEDIATYPE[:TITLE]", l)
		}
		b, err := os.ReadFile(parts[0])
		if err != nil {
			return usageErr("-layer: %v", err)
		}
		layer := ociarchive.Layer{MediaType: parts[1], Data: b}
		if len(parts) == 3 {
			layer.Title = parts[2]
		}
		img.ExtraLayers = append(img.ExtraLayers, layer)
	}

	desc, err := write(*out, img, stdout)
	var ve *ociarchive.ValidationError
	switch {
	case errors.As(err, &ve):
		return usageErr("%v", err)
	case err != nil:
		fmt.Fprintln(stderr, "wasm-image:", err)
		return 1
	}
	msg := stdout
	if *out == "-" {
		msg = stderr
	}
	fmt.Fprintf(msg, "%s %s\n", desc.Digest, desc.Annotations[ociarchive.AnnotationImageName])
	return 0
}

// write writes the archive to path ("-": w) through a temporary file, so a
// failed run never leaves a partial archive behind.
func write(path string, img ociarchive.Image, w io.Writer) (ocispec.Descriptor, error) {
	if path == "-" {
		return ociarchive.Write(w, img)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	desc, err := ociarchive.Write(tmp, img)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return desc, err
}
