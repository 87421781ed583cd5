// Package wasispec translates an OCI runtime spec into the WASI view of a
// process: its argv, environment, working directory, preopened directories
// and memory limit. Both runtimes (goroutine and forked) start a module from
// a Config, so the translation lives in one place.
package wasispec

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// WasmPageSize is the size of one page of Wasm linear memory.
const WasmPageSize = 64 << 10

// DefaultMemoryLimit caps a module's linear memory when the spec sets no
// limit. wazero's own default is 4 GiB per memory; a node runs many modules.
const DefaultMemoryLimit = 1 << 30

// Limits bounding what a spec may ask for, so a hostile config.json cannot
// make the daemon allocate without bound.
const (
	MaxArgs      = 4096
	MaxEnv       = 4096
	MaxArgBytes  = 1 << 20 // total bytes of argv plus env
	MaxPreopens  = 64
	maxPathBytes = 4096
)

// Preopen is a host directory made visible to the guest.
type Preopen struct {
	HostPath  string // absolute host path
	GuestPath string // absolute guest path
	ReadOnly  bool
}

// Config is what a runtime needs to start a module.
type Config struct {
	Args []string // argv, argv[0] included
	Env  []string // KEY=VALUE, exactly process.env
	Cwd  string   // absolute guest path
	// Path is the PATH value from Env, used to resolve Args[0].
	Path string
	// RootReadOnly is true when root.readonly is set in the spec.
	RootReadOnly bool
	// Preopens lists bind mounts of directories, in spec order.
	Preopens []Preopen
	// MemoryLimit is the cap on linear memory in bytes, a multiple of
	// WasmPageSize, never 0.
	MemoryLimit uint64
	// Terminal is true when the spec asks for a tty.
	Terminal bool
}

// MemoryLimitPages is MemoryLimit in Wasm pages.
func (c Config) MemoryLimitPages() uint32 {
	return uint32(c.MemoryLimit / WasmPageSize)
}

// StatFunc reports whether a host path is a directory; injected so the
// translation stays pure and testable.
type StatFunc func(hostPath string) (isDir bool, err error)

// FromSpec validates spec and returns the WASI Config it describes. Errors
// wrap errkind.InvalidArgument and name the offending field.
func FromSpec(spec *specs.Spec, stat StatFunc) (Config, error) {
	if spec == nil {
		return Config{}, invalid("spec", "is missing")
	}
	if spec.Process == nil {
		return Config{}, invalid("process", "is missing")
	}
	p := spec.Process
	if len(p.Args) == 0 || p.Args[0] == "" {
		return Config{}, invalid("process.args", "is empty: the first argument must name the Wasm module")
	}
	if len(p.Args) > MaxArgs {
		return Config{}, invalid("process.args", fmt.Sprintf("has %d entries, more than %d", len(p.Args), MaxArgs))
	}
	if len(p.Env) > MaxEnv {
		return Config{}, invalid("process.env", fmt.Sprintf("has %d entries, more than %d", len(p.Env), MaxEnv))
	}
	total := 0
	for i, a := range p.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return Config{}, invalid(fmt.Sprintf("process.args[%d]", i), "contains a NUL byte")
		}
		total += len(a) + 1
	}
	var pathEnv string
	for i, e := range p.Env {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return Config{}, invalid(fmt.Sprintf("process.env[%d]", i), fmt.Sprintf("%q is not KEY=VALUE", truncate(e)))
		}
		if strings.IndexByte(e, 0) >= 0 {
			return Config{}, invalid(fmt.Sprintf("process.env[%d]", i), "contains a NUL byte")
		}
		if k == "PATH" {
			pathEnv = v
		}
		total += len(e) + 1
	}
	if total > MaxArgBytes {
		return Config{}, invalid("process.args+env", fmt.Sprintf("total %d bytes, more than %d", total, MaxArgBytes))
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := absPath("process.cwd", cwd); err != nil {
		return Config{}, err
	}
	cfg := Config{
		Args:         slices.Clone(p.Args),
		Env:          slices.Clone(p.Env),
		Cwd:          path.Clean(cwd),
		Path:         pathEnv,
		Terminal:     p.Terminal,
		RootReadOnly: spec.Root != nil && spec.Root.Readonly,
	}
	preopens, err := preopensFrom(spec.Mounts, stat)
	if err != nil {
		return Config{}, err
	}
	cfg.Preopens = preopens
	limit, err := memoryLimit(spec)
	if err != nil {
		return Config{}, err
	}
	cfg.MemoryLimit = limit
	return cfg, nil
}

// absPath refuses p for field unless it is an absolute path of bounded
// length without a NUL byte.
func absPath(field, p string) error {
	if !path.IsAbs(p) || len(p) > maxPathBytes || strings.IndexByte(p, 0) >= 0 {
		return invalid(field, fmt.Sprintf("%q is not an absolute path", truncate(p)))
	}
	return nil
}

// preopensFrom keeps bind mounts of directories. Kernel filesystems (proc,
// sysfs, tmpfs, devpts, mqueue, cgroup) mean nothing to a WASI guest and are
// skipped; so are bind mounts of single files, which WASI preview 1 cannot
// preopen (it only preopens directories).
func preopensFrom(mounts []specs.Mount, stat StatFunc) ([]Preopen, error) {
	var out []Preopen
	for i, m := range mounts {
		if !isBind(m) {
			continue
		}
		field := fmt.Sprintf("mounts[%d]", i)
		if err := absPath(field+".destination", m.Destination); err != nil {
			return nil, err
		}
		if err := absPath(field+".source", m.Source); err != nil {
			return nil, err
		}
		if stat != nil {
			isDir, err := stat(m.Source)
			if err != nil {
				return nil, fmt.Errorf("%s.source %q: %w", field, m.Source, errors.Join(err, errkind.InvalidArgument))
			}
			if !isDir {
				continue
			}
		}
		if len(out) == MaxPreopens {
			return nil, invalid("mounts", fmt.Sprintf("more than %d directory bind mounts", MaxPreopens))
		}
		out = append(out, Preopen{
			HostPath:  path.Clean(m.Source),
			GuestPath: path.Clean(m.Destination),
			ReadOnly:  slices.Contains(m.Options, "ro") || slices.Contains(m.Options, "rro"),
		})
	}
	return out, nil
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	return (m.Type == "" || m.Type == "none") && (slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind"))
}

func memoryLimit(spec *specs.Spec) (uint64, error) {
	if spec.Linux == nil || spec.Linux.Resources == nil || spec.Linux.Resources.Memory == nil || spec.Linux.Resources.Memory.Limit == nil {
		return DefaultMemoryLimit, nil
	}
	return MemoryLimitFromBytes(*spec.Linux.Resources.Memory.Limit)
}

// MemoryLimitFromBytes turns an OCI memory limit into a linear memory cap:
// rounded down to whole Wasm pages, at most 4 GiB (the wasm32 ceiling).
// A value <= 0 means "no limit" in OCI and yields DefaultMemoryLimit.
func MemoryLimitFromBytes(limit int64) (uint64, error) {
	const maxWasm32 = 1 << 32
	if limit <= 0 {
		return DefaultMemoryLimit, nil
	}
	l := uint64(limit)
	if l < WasmPageSize {
		return 0, invalid("linux.resources.memory.limit", fmt.Sprintf("%d bytes is less than one Wasm page (%d bytes)", limit, WasmPageSize))
	}
	if l > maxWasm32 {
		l = maxWasm32
	}
	return l - l%WasmPageSize, nil
}

func invalid(field, msg string) error {
	return fmt.Errorf("%s %s: %w", field, msg, errkind.InvalidArgument)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
