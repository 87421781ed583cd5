package tasktest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// wasiCases pin what issue 17 found through the stack, with the WASI
// guest of internal/testing/wasidiff (one group of checks per case; the
// whole differential suite is TestWASIDifferential in each runtime).
var wasiCases = []testCase{
	{"issue 17: an absolute symlink target is refused, in the rootfs and in a bind mount", func(t *testing.T, f *fixture) {
		host := t.TempDir()
		b := guestBundle(t, "symlink-abs")
		b.spec.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: host, Options: []string{"rbind", "rw"}}}
		out := f.runGuest(b)
		for _, want := range []string{"symlink absolute in /: PERM", "symlink absolute in /data: PERM"} {
			expectLine(t, out, want)
		}
		for _, p := range []string{filepath.Join(host, "sym-abs"), filepath.Join(b.rootfs, "sym-abs")} {
			if target, err := os.Readlink(p); err == nil {
				t.Errorf("%s -> %s: a host-absolute link was written", p, target)
			}
		}
	}},
	{"issue 17: the environment is process.env exactly; PWD only for another cwd", func(t *testing.T, f *fixture) {
		b := guestBundle(t, "env")
		b.spec.Process.Env = []string{"PATH=/bin:/", "A=1"}
		expectLine(t, f.runGuest(b), `environ_get: SUCCESS ["PATH=/bin:/" "A=1"]`)
		b = guestBundle(t, "env")
		writeFile(t, filepath.Join(b.rootfs, "work", "keep"), nil, 0o644)
		b.spec.Process.Env, b.spec.Process.Cwd = []string{"A=1"}, "/work"
		expectLine(t, f.runGuest(b), `environ_get: SUCCESS ["A=1" "PWD=/work"]`)
		b = guestBundle(t, "env")
		writeFile(t, filepath.Join(b.rootfs, "work", "keep"), nil, 0o644)
		b.spec.Process.Env, b.spec.Process.Cwd = []string{"PWD=/elsewhere"}, "/work"
		expectLine(t, f.runGuest(b), `environ_get: SUCCESS ["PWD=/elsewhere"]`)
	}},
	{"issue 17: /dev/null, /dev/zero and /dev/urandom, synthesized", func(t *testing.T, f *fixture) {
		out := f.runGuest(guestBundle(t, "devices"))
		for _, want := range []string{
			"dev null write: SUCCESS n=9", `dev null read: SUCCESS ""`, "dev null stat: SUCCESS char",
			`dev zero read: SUCCESS "\x00\x00\x00\x00\x00\x00\x00\x00"`,
			"dev urandom read: SUCCESS n=32 distinct=true",
			"dev os.Stat(os.DevNull): <nil>", "dev os.OpenFile(os.DevNull) write: <nil>",
		} {
			expectLine(t, out, want)
		}
	}},
	{"issue 17: pwrite on an append-mode file fails and writes nothing", func(t *testing.T, f *fixture) {
		b := guestBundle(t, "pwrite-append")
		out := f.runGuest(b)
		expectLine(t, out, "append pwrite: IO n=0")
		expectLine(t, out, `append content: "abc"`)
		if got, _ := os.ReadFile(filepath.Join(b.rootfs, "append.txt")); string(got) != "abc" {
			t.Errorf("append.txt on the host: %q", got)
		}
	}},
}

// guestBundle runs the WASI guest's group of checks.
func guestBundle(t *testing.T, group string) *bundle {
	return newBundle(t, []string{"/wasicheck.wasm", group}, map[string][]byte{"wasicheck.wasm": WASIGuest(t)})
}

// runGuest runs b and returns its stdout; the guest exits 0.
func (f *fixture) runGuest(b *bundle) string {
	f.t.Helper()
	b.withStdio(f.t, false)
	code := f.run(b, "guest")
	out := b.stdout.String()
	if code != 0 {
		f.t.Fatalf("guest exited %d; stdout %q, stderr %q", code, out, b.stderr.String())
	}
	return out
}

func expectLine(t *testing.T, out, line string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if l == line {
			return
		}
	}
	t.Errorf("no line %q in the guest's output:\n%s", line, out)
}
