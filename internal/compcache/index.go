//go:build linux

package compcache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const (
	indexName   = "index.json"
	indexFormat = 1
)

// index is what we vouch for, persisted as dir/index.json.
type index struct {
	Format int `json:"format"`
	// Dir is wazero's version directory the entries live in.
	Dir string `json:"dir"`
	// Clock is a logical clock: every use of an entry takes the next tick.
	Clock   uint64            `json:"clock"`
	Entries map[string]*entry `json:"entries"`

	// saved is what the last save wrote: a sweep that
	// changed nothing writes nothing.
	saved []byte
}

// entry records one cache file as we wrote (or last verified) it.
type entry struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Used is the Clock tick of the last write or read of the file.
	Used uint64 `json:"used"`

	// id identifies the file as verified in this process (not persisted:
	// Open re-hashes every entry).
	id fileID
}

func newIndex(dir string) *index {
	return &index{Format: indexFormat, Dir: dir, Entries: map[string]*entry{}}
}

// tick advances the clock and returns the new value.
func (x *index) tick() uint64 {
	x.Clock++
	return x.Clock
}

// totalBytes sums the sizes of all entries.
func (x *index) totalBytes() int64 {
	var n int64
	for _, e := range x.Entries {
		n += e.Size
	}
	return n
}

// loadIndex reads root/index.json. A missing file is an empty index;
// an unreadable one is an error (the caller then trusts nothing).
func loadIndex(root, dir string) (*index, error) {
	b, err := os.ReadFile(filepath.Join(root, indexName))
	if errors.Is(err, os.ErrNotExist) {
		return newIndex(dir), nil
	}
	if err != nil {
		return newIndex(dir), fmt.Errorf("read index: %w", err)
	}
	x := newIndex(dir)
	if err := json.Unmarshal(b, x); err != nil {
		return newIndex(dir), fmt.Errorf("parse index: %w", err)
	}
	if x.Format != indexFormat {
		return newIndex(dir), fmt.Errorf("index format %d, want %d", x.Format, indexFormat)
	}
	if x.Entries == nil {
		x.Entries = map[string]*entry{}
	}
	for name, e := range x.Entries {
		if e == nil || !isEntryName(name) || e.Size < 0 || len(e.SHA256) != 64 {
			return newIndex(dir), fmt.Errorf("index entry %q is malformed", name)
		}
	}
	if x.Dir != dir {
		// Written by another wazero version: its entries are elsewhere
		// and get removed with that directory. Keep the clock.
		x.Dir, x.Entries = dir, map[string]*entry{}
	}
	return x, nil
}

// save writes the index atomically: temp file, fsync, rename, fsync dir;
// unless it is what the file already holds.
func (x *index) save(root string) (err error) {
	b, err := json.Marshal(x)
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	if bytes.Equal(b, x.saved) {
		return nil
	}
	defer func() {
		if err == nil {
			x.saved = b
		}
	}()
	f, err := os.CreateTemp(root, indexName+".*.tmp")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync index: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close index: %w", err)
	}
	if err = os.Rename(f.Name(), filepath.Join(root, indexName)); err != nil {
		return fmt.Errorf("rename index: %w", err)
	}
	return syncDir(root)
}

// isIndexTemp reports whether name is a temp file left by save.
func isIndexTemp(name string) bool {
	return strings.HasPrefix(name, indexName+".") && strings.HasSuffix(name, ".tmp")
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
