package sandboxer

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/pkg/atomicfile"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/errdefs"
)

// Phase is a sandbox's lifecycle phase.
type Phase string

// The phases a sandbox goes through.
const (
	PhaseCreated Phase = "created"
	PhaseReady   Phase = "ready"
	PhaseStopped Phase = "stopped"
)

// Mode selects the runtime of a sandbox's modules.
type Mode string

// The runtimes.
const (
	ModeGoroutine Mode = "goroutine" // a goroutine per module in the daemon (default)
	ModeForked    Mode = "forked"    // a confined worker process per module
)

// Modes are the runtimes a pod's AnnotationRuntime may name.
var Modes = []Mode{ModeGoroutine, ModeForked}

// stateVersion is written in every state file; a file of another version
// is refused rather than misread.
const stateVersion = 1

// maxStateBytes bounds a state file read back at start.
const maxStateBytes = 1 << 20

// State is what is persisted of a sandbox so a restarted daemon can answer
// Status and Wait for it.
type State struct {
	Version   int    `json:"version"`
	ID        string `json:"id"`
	Namespace string `json:"namespace,omitempty"`
	Phase     Phase  `json:"phase"`
	NetNSPath string `json:"netnsPath,omitempty"`
	// CgroupParent is CRI's cgroup parent of the pod's containers.
	CgroupParent string            `json:"cgroupParent,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Mode is the runtime the sandbox's modules run in.
	Mode       Mode      `json:"mode,omitempty"`
	Address    string    `json:"address,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitempty"`
	ExitedAt   time.Time `json:"exitedAt,omitempty"`
	ExitStatus uint32    `json:"exitStatus"`
}

// mode is the sandbox's runtime; state files written before there were
// modes (no Mode) are goroutine-mode sandboxes.
func (st State) mode() Mode { return cmp.Or(st.Mode, ModeGoroutine) }

// Store keeps one state file per sandbox under dir.
type Store struct {
	dir string
}

// NewStore returns a Store under dir, creating it.
func NewStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(id string) string { return filepath.Join(s.dir, id+".json") }

// Save writes st atomically: a crash leaves the old or the new file.
func (s *Store) Save(st State) error {
	st.Version = stateVersion
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f, err := atomicfile.New(s.path(st.ID), 0o600)
	if err != nil {
		return fmt.Errorf("save sandbox %q: %w", st.ID, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Cancel()
		return fmt.Errorf("save sandbox %q: %w", st.ID, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save sandbox %q: %w", st.ID, err)
	}
	return nil
}

// Remove deletes a sandbox's state.
func (s *Store) Remove(id string) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove sandbox %q state: %w", id, err)
	}
	return nil
}

// Load reads every state file. Files that cannot be read are returned as
// errors next to the states that could: one bad file must not hide others.
func (s *Store) Load() ([]State, []error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("read state dir: %w", err)}
	}
	var out []State
	var errs []error
	for _, e := range ents {
		name := e.Name()
		// Only regular files: a fifo named *.json would block the open.
		if !e.Type().IsRegular() || filepath.Ext(name) != ".json" {
			continue
		}
		st, err := DecodeState(s.dir, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, st)
	}
	return out, errs
}

// DecodeState reads and validates the state file dir/name.
func DecodeState(dir, name string) (State, error) {
	b, err := readLimited(filepath.Join(dir, name), maxStateBytes)
	if err != nil {
		return State{}, fmt.Errorf("state file %s: %w", name, err)
	}
	return ParseState(b, name[:len(name)-len(".json")])
}

// ParseState decodes a state file's bytes and checks them against the id
// its file name gives.
func ParseState(b []byte, id string) (State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("state of sandbox %q is corrupt: %v: %w", id, err, errdefs.ErrDataLoss)
	}
	if st.Version != stateVersion {
		return State{}, fmt.Errorf("state of sandbox %q has version %d, want %d: %w", id, st.Version, stateVersion, errdefs.ErrDataLoss)
	}
	if st.ID != id {
		return State{}, fmt.Errorf("state file of sandbox %q names sandbox %q: %w", id, st.ID, errdefs.ErrDataLoss)
	}
	if err := identifiers.Validate(st.ID); err != nil {
		return State{}, fmt.Errorf("state of sandbox %q: %w", id, err)
	}
	switch st.Phase {
	case PhaseCreated, PhaseReady, PhaseStopped:
	default:
		return State{}, fmt.Errorf("state of sandbox %q has unknown phase %q: %w", id, st.Phase, errdefs.ErrDataLoss)
	}
	return st, nil
}

func readLimited(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > n {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", fi.Size(), n, errdefs.ErrDataLoss)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, err
	}
	return b, nil
}
