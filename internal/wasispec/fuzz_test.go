package wasispec_test

import (
	"encoding/json"
	"errors"
	"path"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// FuzzFromSpec feeds arbitrary config.json documents to FromSpec: it must
// never panic, every error must be an invalid argument, and every Config it
// accepts must satisfy the invariants the runtimes rely on.
func FuzzFromSpec(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"process":{}}`,
		`{"process":{"args":["/app.wasm"]}}`,
		`{"process":{"args":["app.wasm","-x"],"env":["PATH=/bin","A=b"],"cwd":"/w/../x/"}}`,
		`{"process":{"args":["a"],"cwd":"rel"}}`,
		`{"process":{"args":["a"],"env":["NOEQ"]}}`,
		`{"process":{"args":["a\u0000b"]}}`,
		`{"process":{"args":["a"],"terminal":true},"root":{"path":"rootfs","readonly":true}}`,
		`{"process":{"args":["a"]},"mounts":[{"destination":"/d","type":"bind","source":"/s","options":["ro"]},{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/e","source":"/h","options":["rbind","rro"]}]}`,
		`{"process":{"args":["a"]},"mounts":[{"destination":"d","type":"bind","source":"/s"}]}`,
		`{"process":{"args":["a"]},"linux":{"resources":{"memory":{"limit":100000}}}}`,
		`{"process":{"args":["a"]},"linux":{"resources":{"memory":{"limit":-1}}}}`,
		`{"process":{"args":["a"]},"linux":{"resources":{"memory":{"limit":9223372036854775807}}}}`,
		`{"process":{"args":["a"]},"linux":{"resources":{"memory":{"limit":65535}}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		cfg, err := wasispec.FromSpec(&s, func(string) (bool, error) { return true, nil })
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %q does not wrap ErrInvalidArgument", err)
			}
			return
		}
		if len(cfg.Args) == 0 || cfg.Args[0] == "" {
			t.Fatalf("accepted empty args: %q", cfg.Args)
		}
		if len(cfg.Args) > wasispec.MaxArgs || len(cfg.Env) > wasispec.MaxEnv {
			t.Fatalf("accepted %d args and %d env entries", len(cfg.Args), len(cfg.Env))
		}
		if !path.IsAbs(cfg.Cwd) || path.Clean(cfg.Cwd) != cfg.Cwd {
			t.Fatalf("Cwd %q is not a clean absolute path", cfg.Cwd)
		}
		if cfg.MemoryLimit == 0 || cfg.MemoryLimit%wasispec.WasmPageSize != 0 || cfg.MemoryLimit > 1<<32 {
			t.Fatalf("MemoryLimit %d is not a non-zero multiple of %d at most 4 GiB", cfg.MemoryLimit, wasispec.WasmPageSize)
		}
		if len(cfg.Preopens) > wasispec.MaxPreopens {
			t.Fatalf("accepted %d preopens", len(cfg.Preopens))
		}
		for i, p := range cfg.Preopens {
			if !path.IsAbs(p.HostPath) || !path.IsAbs(p.GuestPath) {
				t.Fatalf("preopen %d %+v has a relative path", i, p)
			}
		}
	})
}
