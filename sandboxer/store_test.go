package sandboxer_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
)

func newStore(t *testing.T) (*sandboxer.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state", "sandboxes")
	s, err := sandboxer.NewStore(dir)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s, dir
}

func writeFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stateJSON is a valid state file for id, modified by fn.
func stateJSON(t *testing.T, id string, fn func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"version":   1,
		"id":        id,
		"phase":     "ready",
		"createdAt": "2025-01-02T03:04:05Z",
	}
	if fn != nil {
		fn(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalState(a, b sandboxer.State) bool {
	return a.Version == b.Version &&
		a.ID == b.ID &&
		a.Namespace == b.Namespace &&
		a.Phase == b.Phase &&
		a.NetNSPath == b.NetNSPath &&
		maps.Equal(a.Annotations, b.Annotations) &&
		a.Address == b.Address &&
		a.CreatedAt.Equal(b.CreatedAt) &&
		a.StartedAt.Equal(b.StartedAt) &&
		a.ExitedAt.Equal(b.ExitedAt) &&
		a.ExitStatus == b.ExitStatus
}

func TestNewStore(t *testing.T) {
	_, dir := newStore(t)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("NewStore did not create its dir: %v", err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want a 0700 directory", fi.Mode())
	}
	// An existing dir is fine.
	if _, err := sandboxer.NewStore(dir); err != nil {
		t.Errorf("NewStore on an existing dir: %v", err)
	}
	// A file in the way is not.
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, filepath.Dir(file), "file", nil)
	if _, err := sandboxer.NewStore(file); err == nil {
		t.Error("NewStore over a regular file succeeded")
	}
}

func TestStoreRoundTrip(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	created := time.Date(2025, 6, 1, 12, 30, 45, 123456789, time.UTC)
	tests := []struct {
		name string
		st   sandboxer.State
	}{
		{
			name: "minimal",
			st:   sandboxer.State{ID: "sb1", Phase: sandboxer.PhaseCreated, CreatedAt: created},
		},
		{
			name: "ready with everything",
			st: sandboxer.State{
				ID:          "k8s_pod.default-1",
				Namespace:   "k8s.io",
				Phase:       sandboxer.PhaseReady,
				NetNSPath:   "/var/run/netns/cni-1234",
				Annotations: map[string]string{"io.kubernetes.cri.sandbox-name": "web", "empty": "", "unicode": "héllo ✓"},
				Address:     "ttrpc+unix:///run/wasm-sandboxer/s/sb.sock",
				CreatedAt:   created,
				StartedAt:   created.Add(time.Second),
			},
		},
		{
			name: "stopped",
			st: sandboxer.State{
				ID:         "stopped-sb",
				Phase:      sandboxer.PhaseStopped,
				CreatedAt:  created,
				StartedAt:  created.Add(time.Millisecond),
				ExitedAt:   created.Add(time.Hour),
				ExitStatus: 137,
			},
		},
		{
			name: "local time zone and monotonic clock",
			st: sandboxer.State{
				ID:        "tz",
				Phase:     sandboxer.PhaseReady,
				CreatedAt: time.Now(), // carries a monotonic reading
				StartedAt: created.In(paris),
			},
		},
		{
			name: "version is overwritten",
			st:   sandboxer.State{Version: 99, ID: "v", Phase: sandboxer.PhaseCreated, CreatedAt: created},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t)
			if err := s.Save(tc.st); err != nil {
				t.Fatalf("Save: %v", err)
			}
			fi, err := os.Stat(filepath.Join(dir, tc.st.ID+".json"))
			if err != nil {
				t.Fatalf("state file: %v", err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
			}
			states, errs := s.Load()
			if len(errs) != 0 {
				t.Fatalf("Load errors: %v", errs)
			}
			if len(states) != 1 {
				t.Fatalf("Load returned %d states, want 1", len(states))
			}
			want := tc.st
			want.Version = 1
			if !equalState(states[0], want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", states[0], want)
			}
		})
	}
}

func TestStoreSaveAtomic(t *testing.T) {
	s, dir := newStore(t)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	st := sandboxer.State{ID: "sb", Phase: sandboxer.PhaseCreated, CreatedAt: created}
	phases := []sandboxer.Phase{sandboxer.PhaseCreated, sandboxer.PhaseReady, sandboxer.PhaseStopped}
	for _, phase := range phases {
		st.Phase = phase
		if err := s.Save(st); err != nil {
			t.Fatalf("Save %s: %v", phase, err)
		}
		names := dirNames(t, dir)
		if !slices.Equal(names, []string{"sb.json"}) {
			t.Fatalf("after Save(%s) the dir holds %q, want only sb.json", phase, names)
		}
		states, errs := s.Load()
		if len(errs) != 0 || len(states) != 1 || states[0].Phase != phase {
			t.Fatalf("Load after Save(%s) = %+v, %v", phase, states, errs)
		}
	}
	// An overwrite with a shorter file leaves no trailing bytes.
	big := sandboxer.State{ID: "sb", Phase: sandboxer.PhaseReady, CreatedAt: created, Annotations: map[string]string{"k": strings.Repeat("v", 4096)}}
	if err := s.Save(big); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sandboxer.State{ID: "sb", Phase: sandboxer.PhaseStopped, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	states, errs := s.Load()
	if len(errs) != 0 || len(states) != 1 || states[0].Annotations != nil || states[0].Phase != sandboxer.PhaseStopped {
		t.Errorf("Load after a shrinking overwrite = %+v, %v", states, errs)
	}
}

func TestStoreSaveMissingDir(t *testing.T) {
	s, dir := newStore(t)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	err := s.Save(sandboxer.State{ID: "sb", Phase: sandboxer.PhaseReady})
	if err == nil {
		t.Fatal("Save into a removed dir succeeded")
	}
	if !strings.Contains(err.Error(), `"sb"`) {
		t.Errorf("error %q does not name the sandbox", err)
	}
	if states, errs := s.Load(); states != nil || len(errs) != 1 {
		t.Errorf("Load of a removed dir = %v, %v, want nil and one error", states, errs)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestStoreRemove(t *testing.T) {
	s, dir := newStore(t)
	for _, id := range []string{"a", "b"} {
		if err := s.Save(sandboxer.State{ID: id, Phase: sandboxer.PhaseReady}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		id        string
		remaining []string
	}{
		{"a", []string{"b.json"}},
		{"a", []string{"b.json"}},     // already gone
		{"never", []string{"b.json"}}, // never existed
		{"b", nil},                    // last one
		{"b", nil},                    // empty dir
	}
	for _, tc := range tests {
		if err := s.Remove(tc.id); err != nil {
			t.Errorf("Remove(%q): %v", tc.id, err)
		}
		if names := dirNames(t, dir); !slices.Equal(names, tc.remaining) {
			t.Errorf("after Remove(%q) the dir holds %q, want %q", tc.id, names, tc.remaining)
		}
	}
	// A failure other than "not there" is reported.
	sub := filepath.Join(dir, "full.json")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sub, "x", nil)
	if err := s.Remove("full"); err == nil {
		t.Error("Remove of a non-empty directory succeeded")
	}
}

// badFiles are state files Load must refuse, each with what the error must
// wrap.
var badFiles = []struct {
	name string
	body func(t *testing.T) []byte
	is   error // nil: only check there is an error
	msg  string
}{
	{"corrupt.json", func(*testing.T) []byte { return []byte(`{"version":1,"id":"corrupt",`) }, errdefs.ErrDataLoss, "corrupt"},
	{"empty.json", func(*testing.T) []byte { return nil }, errdefs.ErrDataLoss, "corrupt"},
	{"notobject.json", func(*testing.T) []byte { return []byte(`[1,2,3]`) }, errdefs.ErrDataLoss, "corrupt"},
	{"badtime.json", func(t *testing.T) []byte {
		return stateJSON(t, "badtime", func(m map[string]any) { m["createdAt"] = "yesterday" })
	}, errdefs.ErrDataLoss, "corrupt"},
	{"wrongtype.json", func(t *testing.T) []byte {
		return stateJSON(t, "wrongtype", func(m map[string]any) { m["exitStatus"] = -1 })
	}, errdefs.ErrDataLoss, "corrupt"},
	{"v0.json", func(t *testing.T) []byte {
		return stateJSON(t, "v0", func(m map[string]any) { delete(m, "version") })
	}, errdefs.ErrDataLoss, "version 0"},
	{"v2.json", func(t *testing.T) []byte {
		return stateJSON(t, "v2", func(m map[string]any) { m["version"] = 2 })
	}, errdefs.ErrDataLoss, "version 2"},
	{"mismatch.json", func(t *testing.T) []byte { return stateJSON(t, "other", nil) }, errdefs.ErrDataLoss, `names sandbox "other"`},
	{"unknownphase.json", func(t *testing.T) []byte {
		return stateJSON(t, "unknownphase", func(m map[string]any) { m["phase"] = "running" })
	}, errdefs.ErrDataLoss, `unknown phase "running"`},
	{"nophase.json", func(t *testing.T) []byte {
		return stateJSON(t, "nophase", func(m map[string]any) { delete(m, "phase") })
	}, errdefs.ErrDataLoss, "unknown phase"},
	{"-invalid-id.json", func(t *testing.T) []byte { return stateJSON(t, "-invalid-id", nil) }, errdefs.ErrInvalidArgument, "-invalid-id"},
	{".json", func(t *testing.T) []byte { return stateJSON(t, "", nil) }, errdefs.ErrInvalidArgument, "empty"},
	{"huge.json", func(t *testing.T) []byte {
		// valid JSON padded past the limit: only its size is wrong.
		b := stateJSON(t, "huge", nil)
		return append(b, strings.Repeat(" ", 1<<20+1-len(b))...)
	}, errdefs.ErrDataLoss, "more than"},
}

func TestDecodeStateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range badFiles {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, dir, tc.name, tc.body(t))
			st, err := sandboxer.DecodeState(dir, tc.name)
			if err == nil {
				t.Fatalf("DecodeState = %+v, want an error", st)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if st.ID != "" || st.Phase != "" {
				t.Errorf("DecodeState returned %+v with an error", st)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := sandboxer.DecodeState(dir, "missing.json")
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
			t.Errorf("DecodeState of a missing file: %v", err)
		}
	})
	t.Run("exactly the limit", func(t *testing.T) {
		b := stateJSON(t, "limit", nil)
		b = append(b, strings.Repeat("\n", 1<<20-len(b))...)
		writeFile(t, dir, "limit.json", b)
		st, err := sandboxer.DecodeState(dir, "limit.json")
		if err != nil || st.ID != "limit" {
			t.Errorf("DecodeState of a 1 MiB file = %+v, %v", st, err)
		}
	})
}

func TestStoreLoadMixed(t *testing.T) {
	s, dir := newStore(t)
	created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	good := []sandboxer.State{
		{ID: "good1", Phase: sandboxer.PhaseCreated, CreatedAt: created},
		{ID: "good2", Phase: sandboxer.PhaseReady, CreatedAt: created, Namespace: "default"},
		{ID: "good3", Phase: sandboxer.PhaseStopped, CreatedAt: created, ExitStatus: 1},
	}
	for _, st := range good {
		if err := s.Save(st); err != nil {
			t.Fatal(err)
		}
	}
	for _, bf := range badFiles {
		writeFile(t, dir, bf.name, bf.body(t))
	}
	// Ignored: not .json, or a directory.
	writeFile(t, dir, "notes.txt", []byte("hello"))
	writeFile(t, dir, "good1.json.bak", []byte("garbage"))
	writeFile(t, dir, "README", []byte("garbage"))
	writeFile(t, dir, "x.JSON", []byte("garbage"))
	if err := os.Mkdir(filepath.Join(dir, "subdir.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "subdir.json"), "inner.json", stateJSON(t, "inner", nil))

	states, errs := s.Load()
	var ids []string
	for _, st := range states {
		ids = append(ids, st.ID)
	}
	slices.Sort(ids)
	if want := []string{"good1", "good2", "good3"}; !slices.Equal(ids, want) {
		t.Errorf("Load states %q, want %q", ids, want)
	}
	for _, st := range states {
		i := slices.IndexFunc(good, func(g sandboxer.State) bool { return g.ID == st.ID })
		want := good[i]
		want.Version = 1
		if !equalState(st, want) {
			t.Errorf("Load %s = %+v, want %+v", st.ID, st, want)
		}
	}
	if len(errs) != len(badFiles) {
		t.Errorf("Load returned %d errors, want %d (one per bad file):", len(errs), len(badFiles))
		for _, err := range errs {
			t.Logf("  %v", err)
		}
	}
	dataLoss := 0
	for _, err := range errs {
		if errors.Is(err, errdefs.ErrDataLoss) {
			dataLoss++
		}
	}
	wantDataLoss := 0
	for _, bf := range badFiles {
		if bf.is == errdefs.ErrDataLoss {
			wantDataLoss++
		}
	}
	if dataLoss != wantDataLoss {
		t.Errorf("%d errors wrap ErrDataLoss, want %d", dataLoss, wantDataLoss)
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		name  string
		b     string
		id    string
		phase sandboxer.Phase
		is    error // nil: success expected
	}{
		{name: "created", b: `{"version":1,"id":"a","phase":"created"}`, id: "a", phase: sandboxer.PhaseCreated},
		{name: "ready", b: `{"version":1,"id":"a","phase":"ready"}`, id: "a", phase: sandboxer.PhaseReady},
		{name: "stopped", b: `{"version":1,"id":"a","phase":"stopped","exitStatus":3}`, id: "a", phase: sandboxer.PhaseStopped},
		{name: "unknown fields ignored", b: `{"version":1,"id":"a","phase":"ready","future":{"x":1}}`, id: "a", phase: sandboxer.PhaseReady},
		{name: "null", b: `null`, id: "a", is: errdefs.ErrDataLoss},
		{name: "truncated", b: `{"version":1,"id":"a"`, id: "a", is: errdefs.ErrDataLoss},
		{name: "trailing garbage", b: `{"version":1,"id":"a","phase":"ready"}x`, id: "a", is: errdefs.ErrDataLoss},
		{name: "string version", b: `{"version":"1","id":"a","phase":"ready"}`, id: "a", is: errdefs.ErrDataLoss},
		{name: "version 2", b: `{"version":2,"id":"a","phase":"ready"}`, id: "a", is: errdefs.ErrDataLoss},
		{name: "id mismatch", b: `{"version":1,"id":"b","phase":"ready"}`, id: "a", is: errdefs.ErrDataLoss},
		{name: "id differs in case", b: `{"version":1,"id":"A","phase":"ready"}`, id: "a", is: errdefs.ErrDataLoss},
		{name: "phase upper case", b: `{"version":1,"id":"a","phase":"READY"}`, id: "a", is: errdefs.ErrDataLoss},
		{name: "path traversal id", b: `{"version":1,"id":"../a","phase":"ready"}`, id: "../a", is: errdefs.ErrInvalidArgument},
		{name: "too long id", b: fmt.Sprintf(`{"version":1,"id":%q,"phase":"ready"}`, strings.Repeat("a", 77)), id: strings.Repeat("a", 77), is: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := sandboxer.ParseState([]byte(tc.b), tc.id)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("ParseState = %+v, %v; want an error wrapping %v", st, err, tc.is)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.id)) {
					t.Errorf("error %q does not name sandbox %q", err, tc.id)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseState: %v", err)
			}
			if st.ID != tc.id || st.Phase != tc.phase || st.Version != 1 {
				t.Errorf("ParseState = %+v, want id %q phase %q version 1", st, tc.id, tc.phase)
			}
		})
	}
}

// FuzzParseState feeds arbitrary bytes as the state file of sandbox id: it
// must never panic, and a state it accepts names that sandbox and a known
// phase.
func FuzzParseState(f *testing.F) {
	for _, seed := range []struct{ b, id string }{
		{`{"version":1,"id":"sb1","phase":"ready","createdAt":"2025-01-02T03:04:05Z"}`, "sb1"},
		{`{"version":1,"id":"sb1","phase":"stopped","exitedAt":"2025-01-02T03:04:05.999999999+02:00","exitStatus":137}`, "sb1"},
		{`{"version":1,"id":"sb1","phase":"created","annotations":{"a":"b"}}`, "sb2"},
		{`{"version":2,"id":"x","phase":"ready"}`, "x"},
		{`{"version":1,"id":"x","phase":"running"}`, "x"},
		{`{"version":1,"id":"","phase":"ready"}`, ""},
		{`{"version":1,"id":"../../etc","phase":"ready"}`, "../../etc"},
		{`null`, "a"},
		{``, "a"},
	} {
		f.Add([]byte(seed.b), seed.id)
	}
	f.Fuzz(func(t *testing.T, b []byte, id string) {
		st, err := sandboxer.ParseState(b, id)
		if err != nil {
			if !errors.Is(err, errdefs.ErrDataLoss) && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %q is neither data loss nor invalid argument", err)
			}
			return
		}
		if st.ID != id {
			t.Fatalf("accepted state of %q for sandbox %q", st.ID, id)
		}
		switch st.Phase {
		case sandboxer.PhaseCreated, sandboxer.PhaseReady, sandboxer.PhaseStopped:
		default:
			t.Fatalf("accepted unknown phase %q", st.Phase)
		}
		if st.Version != 1 {
			t.Fatalf("accepted version %d", st.Version)
		}
		if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
			t.Fatalf("accepted id %q, unsafe as a file name", id)
		}
	})
}
