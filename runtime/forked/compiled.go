package forked

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/containerd/log"
)

// Remembered returns a Compiler that compiles each module (and memory
// limit) once and then only remembers that it did: the machine code is in
// the disk cache workers read, so the compiler need not keep it in memory
// (engine.Compiler keeps none).
// A module whose disk entry was evicted since is compiled by its worker,
// which says so in the log.
//
// With dir set, what it remembers is also kept there, one empty file per
// module and limit, and looked up there: pod servers share dir, so a pod's
// first container skips a compile another pod's did (which reads the
// machine code back from the disk cache to find it there: 60–70 ms for the
// 3 MB Go demo module, as much as its worker's own read). The daemon
// empties dir when it starts (its cache may have dropped entries then).
func Remembered(c Compiler, dir string) *Memo {
	return &Memo{c: c, dir: dir, done: map[compileKey]bool{}}
}

type compileKey struct {
	digest     string
	limitPages uint32
}

// Memo is Remembered's Compiler.
type Memo struct {
	c    Compiler
	dir  string
	mu   sync.Mutex
	done map[compileKey]bool
	hits atomic.Uint64
}

// Hits is how many compiles it answered from what it remembered: compile
// cache hits that did not reach the compiler's own count.
func (r *Memo) Hits() uint64 { return r.hits.Load() }

// maxRemembered bounds the memo; past it, it starts over.
const maxRemembered = 4096

func (r *Memo) Compile(ctx context.Context, digest, name string, bin []byte, limitPages uint32) error {
	k := compileKey{digest, limitPages}
	r.mu.Lock()
	ok := r.done[k]
	r.mu.Unlock()
	if ok {
		r.hits.Add(1)
		return nil
	}
	file := r.file(k)
	if file != "" {
		if _, err := os.Stat(file); err == nil {
			r.remember(k)
			r.hits.Add(1)
			return nil
		}
	}
	if err := r.c.Compile(ctx, digest, name, bin, limitPages); err != nil {
		return err
	}
	r.remember(k)
	if file != "" {
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			log.G(ctx).WithError(err).WithField("module", name).Debug("compiled module not noted for other pods")
		}
	}
	return nil
}

func (r *Memo) remember(k compileKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.done) >= maxRemembered {
		r.done = map[compileKey]bool{}
	}
	r.done[k] = true
}

// file is k's file in dir, or "" without a dir or for a digest that is not
// a plain name (they are "sha256:<hex>", ours or the image's).
func (r *Memo) file(k compileKey) string {
	if r.dir == "" || k.digest == "" || len(k.digest) > 200 {
		return ""
	}
	for _, c := range k.digest {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ':' || c == '-' || c == '_') {
			return ""
		}
	}
	return filepath.Join(r.dir, k.digest+"-"+strconv.FormatUint(uint64(k.limitPages), 10))
}
