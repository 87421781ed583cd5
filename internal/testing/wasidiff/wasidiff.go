// Package wasidiff is the differential WASI preview 1 suite: the guest
// module (./guest, Go for wasip1 calling the host's functions directly)
// runs once under wazero's own wasi_snapshot_preview1 host with wazero's
// own filesystem (the reference) and once through the task API of a
// runtime, with the same args, env, preopens and fixture trees. Exit code,
// stdout (one line per check), stderr and the trees afterwards must be
// equal, except for the differences listed, with their reasons, in the
// table of docs/conformance.md ("WASI preview 1: intentional differences"),
// which [Run] reads.
package wasidiff

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tasktest"
)

// GuestName is the module's path in the rootfs.
const GuestName = "wasicheck.wasm"

// ExitCode is what the guest is asked to exit with (proc_exit).
const ExitCode = 3

// Env is the module's environment in both runs.
var Env = []string{"PATH=/bin", "WASIDIFF=1", "EMPTY="}

// Args are the module's arguments in both runs; group selects the
// guest's checks ("all", or one group of guest/main.go).
func Args(group string) []string {
	return []string{"/" + GuestName, group, fmt.Sprint(ExitCode)}
}

// Guest is the guest module (./guest built for wasip1, once per test
// binary; tasktest builds it so that its own cases can run it too).
func Guest(t testing.TB) []byte { return tasktest.WASIGuest(t) }

// Fixture is the trees one run works on: Root is the rootfs ("/"), Data a
// read-write mount at /data, RO a read-only mount at /ro.
type Fixture struct {
	Root, Data, RO string
}

// Mount points of the fixture's trees.
const (
	DataPath = "/data"
	ROPath   = "/ro"
)

// NewFixture makes the trees under a new temporary directory.
func NewFixture(t testing.TB, guest []byte) *Fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &Fixture{Root: filepath.Join(dir, "root"), Data: filepath.Join(dir, "data"), RO: filepath.Join(dir, "ro")}
	files := map[string]string{
		"root/file.txt":   "hello world\n",
		"root/rw.txt":     "",
		"root/flags.txt":  "",
		"root/times.txt":  "t",
		"root/nonempty/x": "x",
		"data/d.txt":      "data\n",
		"ro/r.txt":        "read only\n",
		"ro/sub/s.txt":    "s",
	}
	for i := 0; i < 12; i++ { // enough for fd_readdir to need several calls
		files[fmt.Sprintf("root/dir/entry-%02d", i)] = strings.Repeat("e", i)
	}
	for name, content := range files {
		write(t, filepath.Join(dir, name), []byte(content), 0o644)
	}
	write(t, filepath.Join(fx.Root, GuestName), guest, 0o755)
	must(t, os.Mkdir(filepath.Join(fx.Root, "dir", "subdir"), 0o755))
	for link, target := range map[string]string{
		"link-rel":   "file.txt",
		"link-dir":   "dir",
		"link-dir2":  "dir",
		"link-times": "times.txt",
		"link-abs":   "/file.txt",
		"link-esc":   "../../../../../../../../etc",
		"loop1":      "loop2",
		"loop2":      "loop1",
	} {
		must(t, os.Symlink(target, filepath.Join(fx.Root, link)))
	}
	return fx
}

func write(t testing.TB, p string, b []byte, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, b, mode))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Mounts are the fixture's bind mounts, as an OCI spec lists them.
func (fx *Fixture) Mounts() []specs.Mount {
	return []specs.Mount{
		{Destination: DataPath, Type: "bind", Source: fx.Data, Options: []string{"rbind", "rw"}},
		{Destination: ROPath, Type: "bind", Source: fx.RO, Options: []string{"rbind", "ro"}},
	}
}

// Trees lists the fixture's trees, keyed "tree GUEST-PATH".
func (fx *Fixture) Trees(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for guest, host := range map[string]string{"/": fx.Root, DataPath: fx.Data, ROPath: fx.RO} {
		err := filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(host, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			desc := fmt.Sprintf("%s %04o", typeName(fi.Mode()), fi.Mode().Perm())
			switch {
			case fi.Mode().IsRegular():
				desc += fmt.Sprintf(" size=%d", fi.Size())
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(p)
				desc += " -> " + target
			}
			out["tree "+filepath.Join(guest, rel)] = desc
			return nil
		})
		must(t, err)
	}
	return out
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "dir"
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return m.Type().String()
}

// Calls records which functions of wasi_snapshot_preview1 a run called.
type Calls struct {
	mu    sync.Mutex
	names map[string]int
}

func (c *Calls) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	if def.ModuleName() != wasi_snapshot_preview1.ModuleName {
		return nil
	}
	name := def.Name()
	return experimental.FunctionListenerFunc(func(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
		c.mu.Lock()
		c.names[name]++
		c.mu.Unlock()
	})
}

// Called returns the names called at least once.
func (c *Calls) Called() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for n := range c.names {
		out[n] = true
	}
	return out
}

// Exported lists the functions wazero's wasi_snapshot_preview1 exports.
func Exported(t testing.TB) []string {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	host, err := wasi_snapshot_preview1.NewBuilder(r).Compile(ctx)
	must(t, err)
	var names []string
	for n := range host.ExportedFunctions() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Reference runs the guest with args under wazero's own host and
// filesystem: the fixture's trees mounted with WithDirMount (read-only for
// /ro), the host's /dev at /dev (what `wazero run -mount /dev:/dev` gives),
// stdin empty. It returns the result and the functions called.
func Reference(t testing.TB, fx *Fixture, args []string) (tasktest.Result, *Calls) {
	t.Helper()
	calls := &Calls{names: map[string]int{}}
	// A bound for a hang only (a poll that sleeps forever): compiling the
	// 3 MB guest under -race on a busy 2-core machine took over a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ctx = experimental.WithFunctionListenerFactory(ctx, calls)
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	bin, err := os.ReadFile(filepath.Join(fx.Root, GuestName))
	must(t, err)
	compiled, err := r.CompileModule(ctx, bin)
	must(t, err)
	var stdout, stderr bytes.Buffer
	mc := wazero.NewModuleConfig().WithName("").WithArgs(args...).
		WithStdin(bytes.NewReader(nil)).WithStdout(&stdout).WithStderr(&stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithFSConfig(wazero.NewFSConfig().
			WithDirMount(fx.Root, "/").
			WithDirMount(fx.Data, DataPath).
			WithReadOnlyDirMount(fx.RO, ROPath).
			WithDirMount("/dev", "/dev"))
	for _, e := range Env {
		k, v, _ := strings.Cut(e, "=")
		mc = mc.WithEnv(k, v)
	}
	res := tasktest.Result{}
	mod, err := r.InstantiateModule(ctx, compiled, mc)
	if mod != nil {
		mod.Close(ctx)
	}
	if err != nil {
		exitErr, ok := err.(*sys.ExitError)
		if !ok || ctx.Err() != nil {
			t.Fatalf("reference run: %v\nstdout so far:\n%s", err, stdout.String())
		}
		res.Code = exitErr.ExitCode()
	}
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	return res, calls
}

// Outcome is everything a run is compared on, keyed: "exit", "stderr",
// each stdout check by its name, and "tree PATH" for each file.
func Outcome(t testing.TB, res tasktest.Result, fx *Fixture) map[string]string {
	t.Helper()
	out := fx.Trees(t)
	out["exit"] = fmt.Sprint(res.Code)
	out["stderr"] = strings.TrimSpace(res.Stderr)
	sc := bufio.NewScanner(strings.NewReader(res.Stdout))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			name, value = "stdout "+sc.Text(), ""
		}
		if _, dup := out[name]; dup {
			t.Errorf("check %q printed twice", name)
		}
		out[name] = value
	}
	return out
}

// Difference is one row of the table of intentional differences.
type Difference struct {
	Key       string // what differs: a check, "exit", "stderr" or "tree PATH"
	Runtimes  string // "both", "goroutine" or "forked"
	Reference string // the reference's value ("*": any)
	Ours      string // ours
	Why       string
}

// Table reads the intentional differences from docs/conformance.md.
func Table(t testing.TB) []Difference {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	doc := filepath.Join(filepath.Dir(self), "..", "..", "..", "docs", "conformance.md")
	b, err := os.ReadFile(doc)
	must(t, err)
	const begin, end = "<!-- wasi-differences:begin -->", "<!-- wasi-differences:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %s ... %s table", doc, begin, end)
	}
	var out []Difference
	for _, line := range strings.Split(s[i+len(begin):j], "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| check ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("%s: table row %q: want 5 cells", doc, line)
		}
		for k := range cells {
			cells[k] = strings.Trim(strings.TrimSpace(cells[k]), "`")
		}
		out = append(out, Difference{Key: cells[0], Runtimes: cells[1], Reference: cells[2], Ours: cells[3], Why: cells[4]})
	}
	return out
}

// Compare fails t for every difference between ref and got that the table
// does not list for runtime rt, and for every row of the table for rt that
// no longer differs.
func Compare(t testing.TB, rt string, ref, got map[string]string, table []Difference) {
	t.Helper()
	listed := map[string]Difference{}
	for _, d := range table {
		if d.Runtimes == "both" || d.Runtimes == rt {
			listed[d.Key] = d
		}
	}
	keys := map[string]bool{}
	for k := range ref {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	same := 0
	for _, k := range sorted {
		r, rok := ref[k]
		g, gok := got[k]
		if !rok {
			r = "(absent)"
		}
		if !gok {
			g = "(absent)"
		}
		d, isListed := listed[k]
		switch {
		case r == g && !isListed:
			same++
		case r == g:
			t.Errorf("%s: listed as an intentional difference but equal now: %q", k, g)
		case !isListed:
			t.Errorf("%s: reference %q, %s %q (not in docs/conformance.md's table)", k, r, rt, g)
		case (d.Reference != "*" && d.Reference != r) || d.Ours != g:
			t.Errorf("%s: reference %q, %s %q; the table says reference %q, ours %q", k, r, rt, g, d.Reference, d.Ours)
		}
	}
	t.Logf("%s: %d keys compared, %d equal, %d listed differences", rt, len(sorted), same, len(listed))
}

// Run is the suite for one runtime, named rt ("goroutine" or "forked") in
// the table.
func Run(t *testing.T, rt string, newRuntime tasktest.NewRuntime) {
	guest := Guest(t)
	table := Table(t)
	refFx, ourFx := NewFixture(t, guest), NewFixture(t, guest)
	args := Args(Groups())
	ref, _ := Reference(t, refFx, args)
	res := tasktest.RunModule(t, newRuntime, tasktest.Module{
		Rootfs: ourFx.Root, Args: args, Env: Env, Mounts: ourFx.Mounts(),
	})
	if testing.Verbose() {
		t.Logf("reference stdout:\n%s\n%s stdout:\n%s", ref.Stdout, rt, res.Stdout)
	}
	Compare(t, rt, Outcome(t, ref, refFx), Outcome(t, res, ourFx), table)
}

// Groups is the guest's checks to run: WASIDIFF_GROUPS when set (a knob
// for a quick run, e.g. "rw"), else "all".
func Groups() string {
	if g := os.Getenv("WASIDIFF_GROUPS"); g != "" {
		return g
	}
	return "all"
}
