package wasispec_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// allDirs is a StatFunc that reports every path as a directory.
func allDirs(string) (bool, error) { return true, nil }

// dirsExcept reports every path as a directory except the given files.
func dirsExcept(files ...string) wasispec.StatFunc {
	return func(p string) (bool, error) { return !slices.Contains(files, p), nil }
}

func int64p(v int64) *int64 { return &v }

// spec returns a minimal valid spec, modified by fns.
func spec(fns ...func(*specs.Spec)) *specs.Spec {
	s := &specs.Spec{
		Process: &specs.Process{
			Args: []string{"/app.wasm"},
		},
	}
	for _, fn := range fns {
		fn(s)
	}
	return s
}

func withMemory(limit *int64) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Linux = &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: limit}}}
	}
}

func withMounts(ms ...specs.Mount) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Mounts = ms }
}

func TestFromSpec(t *testing.T) {
	tests := []struct {
		name string
		spec *specs.Spec
		stat wasispec.StatFunc
		want wasispec.Config
	}{
		{
			name: "minimal",
			spec: spec(),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "args env cwd and PATH copied",
			spec: spec(func(s *specs.Spec) {
				s.Process.Args = []string{"app.wasm", "-v", "", "x y"}
				s.Process.Env = []string{"A=1", "PATH=/bin:/usr/bin", "EMPTY=", "EQ=a=b"}
				s.Process.Cwd = "/work"
			}),
			want: wasispec.Config{
				Args:        []string{"app.wasm", "-v", "", "x y"},
				Env:         []string{"A=1", "PATH=/bin:/usr/bin", "EMPTY=", "EQ=a=b"},
				Cwd:         "/work",
				Path:        "/bin:/usr/bin",
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "last PATH wins",
			spec: spec(func(s *specs.Spec) {
				s.Process.Env = []string{"PATH=/a", "PATH=/b"}
			}),
			want: wasispec.Config{
				Args:        []string{"/app.wasm"},
				Env:         []string{"PATH=/a", "PATH=/b"},
				Cwd:         "/",
				Path:        "/b",
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "lower-case path is not PATH",
			spec: spec(func(s *specs.Spec) { s.Process.Env = []string{"path=/x"} }),
			want: wasispec.Config{
				Args:        []string{"/app.wasm"},
				Env:         []string{"path=/x"},
				Cwd:         "/",
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "cwd cleaned",
			spec: spec(func(s *specs.Spec) { s.Process.Cwd = "/a//b/./c/../d/" }),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/a/b/d", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "cwd dot-dot above root",
			spec: spec(func(s *specs.Spec) { s.Process.Cwd = "/../.." }),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "root readonly and terminal",
			spec: spec(func(s *specs.Spec) {
				s.Root = &specs.Root{Path: "rootfs", Readonly: true}
				s.Process.Terminal = true
			}),
			want: wasispec.Config{
				Args:         []string{"/app.wasm"},
				Cwd:          "/",
				RootReadOnly: true,
				Terminal:     true,
				MemoryLimit:  wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "root not readonly",
			spec: spec(func(s *specs.Spec) { s.Root = &specs.Root{Path: "rootfs"} }),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "args and env at the limits",
			spec: spec(func(s *specs.Spec) {
				s.Process.Args = slices.Repeat([]string{"a"}, wasispec.MaxArgs)
				s.Process.Env = slices.Repeat([]string{"K=v"}, wasispec.MaxEnv)
			}),
			want: wasispec.Config{
				Args:        slices.Repeat([]string{"a"}, wasispec.MaxArgs),
				Env:         slices.Repeat([]string{"K=v"}, wasispec.MaxEnv),
				Cwd:         "/",
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "total bytes exactly MaxArgBytes",
			// one arg of n bytes counts n+1 (its NUL terminator).
			spec: spec(func(s *specs.Spec) { s.Process.Args = []string{strings.Repeat("a", wasispec.MaxArgBytes-1)} }),
			want: wasispec.Config{
				Args:        []string{strings.Repeat("a", wasispec.MaxArgBytes-1)},
				Cwd:         "/",
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "bind mounts by type and by option",
			spec: spec(withMounts(
				specs.Mount{Destination: "/a", Type: "bind", Source: "/host/a"},
				specs.Mount{Destination: "/b", Type: "rbind", Source: "/host/b"},
				specs.Mount{Destination: "/c", Type: "", Source: "/host/c", Options: []string{"rbind"}},
				specs.Mount{Destination: "/d", Type: "none", Source: "/host/d", Options: []string{"rbind", "rw"}},
				specs.Mount{Destination: "/e", Type: "none", Source: "/host/e", Options: []string{"bind"}},
			)),
			stat: allDirs,
			want: wasispec.Config{
				Args: []string{"/app.wasm"},
				Cwd:  "/",
				Preopens: []wasispec.Preopen{
					{HostPath: "/host/a", GuestPath: "/a"},
					{HostPath: "/host/b", GuestPath: "/b"},
					{HostPath: "/host/c", GuestPath: "/c"},
					{HostPath: "/host/d", GuestPath: "/d"},
					{HostPath: "/host/e", GuestPath: "/e"},
				},
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "kernel filesystems skipped",
			spec: spec(withMounts(
				specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"},
				specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid"}},
				specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"ro"}},
				specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts"},
				// a typed mount with a bind option is still not a bind mount.
				specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"rbind"}},
				// type "" without a bind option is not a bind mount either.
				specs.Mount{Destination: "/n", Type: "", Source: "relative"},
			)),
			stat: func(p string) (bool, error) { return false, fmt.Errorf("stat called for %q", p) },
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "file binds skipped",
			spec: spec(withMounts(
				specs.Mount{Destination: "/etc/hosts", Type: "bind", Source: "/host/hosts", Options: []string{"rbind", "ro"}},
				specs.Mount{Destination: "/data", Type: "bind", Source: "/host/data"},
				specs.Mount{Destination: "/etc/resolv.conf", Type: "bind", Source: "/host/resolv.conf"},
			)),
			stat: dirsExcept("/host/hosts", "/host/resolv.conf"),
			want: wasispec.Config{
				Args:        []string{"/app.wasm"},
				Cwd:         "/",
				Preopens:    []wasispec.Preopen{{HostPath: "/host/data", GuestPath: "/data"}},
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "nil stat keeps every bind",
			spec: spec(withMounts(specs.Mount{Destination: "/x", Type: "bind", Source: "/host/x"})),
			want: wasispec.Config{
				Args:        []string{"/app.wasm"},
				Cwd:         "/",
				Preopens:    []wasispec.Preopen{{HostPath: "/host/x", GuestPath: "/x"}},
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "read-only options and paths cleaned",
			spec: spec(withMounts(
				specs.Mount{Destination: "/ro/", Type: "bind", Source: "/host//ro/.", Options: []string{"rbind", "ro"}},
				specs.Mount{Destination: "/rro", Type: "bind", Source: "/host/rro", Options: []string{"rro"}},
				specs.Mount{Destination: "/rw", Type: "bind", Source: "/host/rw", Options: []string{"rw"}},
				specs.Mount{Destination: "/a/../b", Type: "bind", Source: "/host/x/..", Options: []string{"nosuid", "readonly"}},
			)),
			stat: allDirs,
			want: wasispec.Config{
				Args: []string{"/app.wasm"},
				Cwd:  "/",
				Preopens: []wasispec.Preopen{
					{HostPath: "/host/ro", GuestPath: "/ro", ReadOnly: true},
					{HostPath: "/host/rro", GuestPath: "/rro", ReadOnly: true},
					{HostPath: "/host/rw", GuestPath: "/rw"},
					{HostPath: "/host", GuestPath: "/b"},
				},
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "MaxPreopens directories plus files",
			spec: spec(func(s *specs.Spec) {
				for i := range wasispec.MaxPreopens {
					s.Mounts = append(s.Mounts,
						specs.Mount{Destination: fmt.Sprintf("/d%d", i), Type: "bind", Source: fmt.Sprintf("/host/d%d", i)},
						specs.Mount{Destination: fmt.Sprintf("/f%d", i), Type: "bind", Source: "/host/file"},
					)
				}
			}),
			stat: dirsExcept("/host/file"),
			want: wasispec.Config{
				Args: []string{"/app.wasm"},
				Cwd:  "/",
				Preopens: func() []wasispec.Preopen {
					var ps []wasispec.Preopen
					for i := range wasispec.MaxPreopens {
						ps = append(ps, wasispec.Preopen{HostPath: fmt.Sprintf("/host/d%d", i), GuestPath: fmt.Sprintf("/d%d", i)})
					}
					return ps
				}(),
				MemoryLimit: wasispec.DefaultMemoryLimit,
			},
		},
		{
			name: "memory nil resources",
			spec: spec(func(s *specs.Spec) { s.Linux = &specs.Linux{} }),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "memory nil memory",
			spec: spec(func(s *specs.Spec) { s.Linux = &specs.Linux{Resources: &specs.LinuxResources{}} }),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "memory nil limit",
			spec: spec(withMemory(nil)),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
		{
			name: "memory limit rounded down",
			spec: spec(withMemory(int64p(10*wasispec.WasmPageSize + 1234))),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: 10 * wasispec.WasmPageSize},
		},
		{
			name: "memory limit -1 is unlimited",
			spec: spec(withMemory(int64p(-1))),
			want: wasispec.Config{Args: []string{"/app.wasm"}, Cwd: "/", MemoryLimit: wasispec.DefaultMemoryLimit},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wasispec.FromSpec(tc.spec, tc.stat)
			if err != nil {
				t.Fatalf("FromSpec: %v", err)
			}
			if !equalConfig(got, tc.want) {
				t.Errorf("FromSpec =\n%s\nwant\n%s", fmtConfig(got), fmtConfig(tc.want))
			}
		})
	}
}

// TestFromSpecCopies checks the Config does not alias the spec's slices.
func TestFromSpecCopies(t *testing.T) {
	s := spec(func(s *specs.Spec) {
		s.Process.Args = []string{"a.wasm", "x"}
		s.Process.Env = []string{"K=v"}
	})
	cfg, err := wasispec.FromSpec(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Args[1] = "changed"
	s.Process.Env[0] = "K=changed"
	if cfg.Args[1] != "x" || cfg.Env[0] != "K=v" {
		t.Errorf("Config aliases the spec: Args=%q Env=%q", cfg.Args, cfg.Env)
	}
}

func TestFromSpecErrors(t *testing.T) {
	statErr := errors.New("boom: no such file")
	tests := []struct {
		name string
		spec *specs.Spec
		stat wasispec.StatFunc
		// field must appear in the message.
		field string
		// cause, if set, must also be in the chain.
		cause error
	}{
		{name: "nil spec", spec: nil, field: "spec"},
		{name: "nil process", spec: &specs.Spec{}, field: "process"},
		{name: "nil args", spec: spec(func(s *specs.Spec) { s.Process.Args = nil }), field: "process.args"},
		{name: "empty args", spec: spec(func(s *specs.Spec) { s.Process.Args = []string{} }), field: "process.args"},
		{name: "empty args[0]", spec: spec(func(s *specs.Spec) { s.Process.Args = []string{"", "x"} }), field: "process.args"},
		{
			name:  "too many args",
			spec:  spec(func(s *specs.Spec) { s.Process.Args = slices.Repeat([]string{"a"}, wasispec.MaxArgs+1) }),
			field: "process.args",
		},
		{
			name:  "too many env",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = slices.Repeat([]string{"K=v"}, wasispec.MaxEnv+1) }),
			field: "process.env",
		},
		{
			name:  "NUL in args[0]",
			spec:  spec(func(s *specs.Spec) { s.Process.Args = []string{"a\x00.wasm"} }),
			field: "process.args[0]",
		},
		{
			name:  "NUL in args[2]",
			spec:  spec(func(s *specs.Spec) { s.Process.Args = []string{"a.wasm", "b", "c\x00"} }),
			field: "process.args[2]",
		},
		{
			name:  "NUL in env value",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = []string{"A=1", "K=v\x00w"} }),
			field: "process.env[1]",
		},
		{
			name:  "NUL in env key",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = []string{"K\x00=v"} }),
			field: "process.env[0]",
		},
		{
			name:  "env without =",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = []string{"A=1", "B=2", "NOEQUALS"} }),
			field: "process.env[2]",
		},
		{
			name:  "env empty key",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = []string{"=v"} }),
			field: "process.env[0]",
		},
		{
			name:  "env empty string",
			spec:  spec(func(s *specs.Spec) { s.Process.Env = []string{""} }),
			field: "process.env[0]",
		},
		{
			name: "args bytes above MaxArgBytes",
			// n bytes count n+1: this is MaxArgBytes+1.
			spec:  spec(func(s *specs.Spec) { s.Process.Args = []string{strings.Repeat("a", wasispec.MaxArgBytes)} }),
			field: "process.args+env",
		},
		{
			name: "args plus env bytes above MaxArgBytes",
			spec: spec(func(s *specs.Spec) {
				s.Process.Args = []string{strings.Repeat("a", wasispec.MaxArgBytes/2)}
				s.Process.Env = []string{"K=" + strings.Repeat("v", wasispec.MaxArgBytes/2)}
			}),
			field: "process.args+env",
		},
		{name: "relative cwd", spec: spec(func(s *specs.Spec) { s.Process.Cwd = "work" }), field: "process.cwd"},
		{name: "dot cwd", spec: spec(func(s *specs.Spec) { s.Process.Cwd = "./" }), field: "process.cwd"},
		{
			name:  "overlong cwd",
			spec:  spec(func(s *specs.Spec) { s.Process.Cwd = "/" + strings.Repeat("a", 5000) }),
			field: "process.cwd",
		},
		{
			name:  "relative mount destination",
			spec:  spec(withMounts(specs.Mount{Destination: "data", Type: "bind", Source: "/host/data"})),
			stat:  allDirs,
			field: "mounts[0].destination",
		},
		{
			name: "relative mount source",
			spec: spec(withMounts(
				specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"},
				specs.Mount{Destination: "/data", Type: "none", Source: "host/data", Options: []string{"rbind"}},
			)),
			stat:  allDirs,
			field: "mounts[1].source",
		},
		{
			name:  "empty mount source",
			spec:  spec(withMounts(specs.Mount{Destination: "/data", Type: "bind"})),
			stat:  allDirs,
			field: "mounts[0].source",
		},
		{
			name: "stat error",
			spec: spec(withMounts(
				specs.Mount{Destination: "/a", Type: "bind", Source: "/host/a"},
				specs.Mount{Destination: "/b", Type: "bind", Source: "/host/b"},
			)),
			stat: func(p string) (bool, error) {
				if p == "/host/b" {
					return false, statErr
				}
				return true, nil
			},
			field: "mounts[1].source",
			cause: statErr,
		},
		{
			name: "more than MaxPreopens",
			spec: spec(func(s *specs.Spec) {
				for i := range wasispec.MaxPreopens + 1 {
					s.Mounts = append(s.Mounts, specs.Mount{Destination: fmt.Sprintf("/d%d", i), Type: "bind", Source: fmt.Sprintf("/host/d%d", i)})
				}
			}),
			stat:  allDirs,
			field: "mounts",
		},
		{
			name:  "memory limit below one page",
			spec:  spec(withMemory(int64p(wasispec.WasmPageSize - 1))),
			field: "linux.resources.memory.limit",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := wasispec.FromSpec(tc.spec, tc.stat)
			if err == nil {
				t.Fatalf("FromSpec = %+v, want an error", cfg)
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %q does not wrap ErrInvalidArgument", err)
			}
			if !strings.HasPrefix(err.Error(), tc.field+" ") {
				t.Errorf("error %q does not start with the field %q", err, tc.field)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %q does not wrap %q", err, tc.cause)
			}
			if cfg.Args != nil || cfg.Preopens != nil || cfg.MemoryLimit != 0 {
				t.Errorf("FromSpec returned a non-zero Config with an error: %+v", cfg)
			}
		})
	}
}

// TestFromSpecTruncatesValues checks a huge offending value is not copied
// whole into the error message.
func TestFromSpecTruncatesValues(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, s := range []*specs.Spec{
		spec(func(s *specs.Spec) { s.Process.Env = []string{long} }),
		spec(func(s *specs.Spec) { s.Process.Cwd = long }),
		spec(withMounts(specs.Mount{Destination: long, Type: "bind", Source: "/x"})),
	} {
		_, err := wasispec.FromSpec(s, allDirs)
		if err == nil {
			t.Fatal("FromSpec: want an error")
		}
		if len(err.Error()) > 300 {
			t.Errorf("error message is %d bytes long: %.80q...", len(err.Error()), err)
		}
	}
}

func TestMemoryLimitFromBytes(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		limit   int64
		want    uint64
		wantErr bool
	}{
		{limit: 0, want: wasispec.DefaultMemoryLimit},
		{limit: -1, want: wasispec.DefaultMemoryLimit},
		{limit: -1 << 63, want: wasispec.DefaultMemoryLimit},
		{limit: 1, wantErr: true},
		{limit: wasispec.WasmPageSize - 1, wantErr: true},
		{limit: wasispec.WasmPageSize, want: wasispec.WasmPageSize},
		{limit: wasispec.WasmPageSize + 1, want: wasispec.WasmPageSize},
		{limit: 2*wasispec.WasmPageSize - 1, want: wasispec.WasmPageSize},
		{limit: 256 << 20, want: 256 << 20},
		{limit: 256<<20 + 100, want: 256 << 20},
		{limit: 4*gib - 1, want: 4*gib - wasispec.WasmPageSize},
		{limit: 4 * gib, want: 4 * gib},
		{limit: 4*gib + 1, want: 4 * gib},
		{limit: 64 * gib, want: 4 * gib},
		{limit: 1<<63 - 1, want: 4 * gib},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			got, err := wasispec.MemoryLimitFromBytes(tc.limit)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("MemoryLimitFromBytes(%d) = %d, want an error", tc.limit, got)
				}
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Errorf("error %q does not wrap ErrInvalidArgument", err)
				}
				if !strings.Contains(err.Error(), "linux.resources.memory.limit") {
					t.Errorf("error %q does not name linux.resources.memory.limit", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("MemoryLimitFromBytes(%d): %v", tc.limit, err)
			}
			if got != tc.want {
				t.Errorf("MemoryLimitFromBytes(%d) = %d, want %d", tc.limit, got, tc.want)
			}
			if got%wasispec.WasmPageSize != 0 {
				t.Errorf("MemoryLimitFromBytes(%d) = %d, not a multiple of the page size", tc.limit, got)
			}
		})
	}
}

func TestMemoryLimitPages(t *testing.T) {
	tests := []struct {
		limit uint64
		want  uint32
	}{
		{limit: wasispec.WasmPageSize, want: 1},
		{limit: wasispec.DefaultMemoryLimit, want: wasispec.DefaultMemoryLimit / wasispec.WasmPageSize},
		{limit: 1 << 32, want: 65536},
	}
	for _, tc := range tests {
		if got := (wasispec.Config{MemoryLimit: tc.limit}).MemoryLimitPages(); got != tc.want {
			t.Errorf("MemoryLimitPages(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	// Through FromSpec, from a limit above the wasm32 ceiling.
	cfg, err := wasispec.FromSpec(spec(withMemory(int64p(1<<40))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.MemoryLimitPages(); got != 65536 {
		t.Errorf("MemoryLimitPages = %d, want 65536", got)
	}
}

func equalConfig(a, b wasispec.Config) bool {
	return slices.Equal(a.Args, b.Args) &&
		slices.Equal(a.Env, b.Env) &&
		a.Cwd == b.Cwd &&
		a.Path == b.Path &&
		a.RootReadOnly == b.RootReadOnly &&
		slices.Equal(a.Preopens, b.Preopens) &&
		a.MemoryLimit == b.MemoryLimit &&
		a.Terminal == b.Terminal
}

func fmtConfig(c wasispec.Config) string {
	// Long argument lists would swamp the output.
	c.Args = slices.Clone(c.Args)
	if len(c.Args) > 8 {
		c.Args = append(c.Args[:8:8], fmt.Sprintf("... (%d total)", len(c.Args)))
	}
	if len(c.Env) > 8 {
		c.Env = append(c.Env[:8:8], fmt.Sprintf("... (%d total)", len(c.Env)))
	}
	for i, a := range c.Args {
		if len(a) > 40 {
			c.Args[i] = fmt.Sprintf("%.40s... (%d bytes)", a, len(a))
		}
	}
	return fmt.Sprintf("%+v", c)
}
