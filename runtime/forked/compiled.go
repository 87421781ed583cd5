package forked

import (
	"context"
	"sync"
)

// Remembered returns a Compiler that compiles each module (and memory
// limit) once and then only remembers that it did: the machine code is in
// the disk cache workers read, so the compiler need not keep it in memory
// (a pod server's runtime frees it: runtime/wazero.WithUnusedModules(0)).
// A module whose disk entry was evicted since is compiled by its worker,
// which says so in the log.
func Remembered(c Compiler) Compiler {
	return &remembered{c: c, done: map[compileKey]bool{}}
}

type compileKey struct {
	digest     string
	limitPages uint32
}

type remembered struct {
	c    Compiler
	mu   sync.Mutex
	done map[compileKey]bool
}

// maxRemembered bounds the memo; past it, it starts over.
const maxRemembered = 4096

func (r *remembered) Compile(ctx context.Context, digest, name string, bin []byte, limitPages uint32) error {
	k := compileKey{digest, limitPages}
	r.mu.Lock()
	ok := r.done[k]
	r.mu.Unlock()
	if ok {
		return nil
	}
	if err := r.c.Compile(ctx, digest, name, bin, limitPages); err != nil {
		return err
	}
	r.mu.Lock()
	if len(r.done) >= maxRemembered {
		r.done = map[compileKey]bool{}
	}
	r.done[k] = true
	r.mu.Unlock()
	return nil
}
