package goroutine

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/tetratelabs/wazero"
	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"golang.org/x/sync/singleflight"
)

// defaultCacheEntries bounds how many compiled modules stay in memory when
// no task uses them.
const defaultCacheEntries = 64

// moduleCache keeps compiled modules by the digest of their bytes, so the
// second container of an image does not compile again. An entry in use is
// never evicted; unused entries go oldest first once there are too many.
type moduleCache struct {
	rt    wazero.Runtime
	max   int
	group singleflight.Group
	// afterCompile, if set, runs after each compile.
	afterCompile func()

	mu           sync.Mutex
	entries      map[string]*cacheEntry
	tick         uint64
	hits, misses uint64
}

type cacheEntry struct {
	m        wazero.CompiledModule
	refs     int
	lastUsed uint64
}

func newModuleCache(rt wazero.Runtime, maxEntries int) *moduleCache {
	return &moduleCache{rt: rt, max: maxEntries, entries: map[string]*cacheEntry{}}
}

// get returns the compiled module for digest, loading and compiling its
// bytes only on a miss. Every get must be paired with a release.
func (c *moduleCache) get(ctx context.Context, digest string, load func() ([]byte, error)) (wazero.CompiledModule, error) {
	if m := c.acquire(digest, true); m != nil {
		return m, nil
	}
	_, err, _ := c.group.Do(digest, func() (any, error) {
		c.mu.Lock()
		_, ok := c.entries[digest]
		c.mu.Unlock()
		if ok {
			return nil, nil
		}
		bin, err := load()
		if err != nil {
			return nil, err
		}
		m, err := engine.Compile(ctx, c.rt, bin)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.entries[digest] = &cacheEntry{m: m}
		c.mu.Unlock()
		if c.afterCompile != nil {
			go c.afterCompile()
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	m := c.acquire(digest, false)
	if m == nil {
		return nil, fmt.Errorf("compiled module %s evicted while acquiring: %w", digest, errdefs.ErrUnavailable)
	}
	return m, nil
}

func (c *moduleCache) acquire(digest string, countHit bool) wazero.CompiledModule {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[digest]
	if !ok {
		if countHit {
			c.misses++
		}
		return nil
	}
	if countHit {
		c.hits++
	}
	c.tick++
	e.refs++
	e.lastUsed = c.tick
	return e.m
}

func (c *moduleCache) release(digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[digest]; ok && e.refs > 0 {
		e.refs--
	}
	c.evictLocked()
}

// evictLocked closes the least recently used unused modules above max.
func (c *moduleCache) evictLocked() {
	for len(c.entries) > c.max {
		var oldest string
		var oldestTick uint64
		for d, e := range c.entries {
			if e.refs == 0 && (oldest == "" || e.lastUsed < oldestTick) {
				oldest, oldestTick = d, e.lastUsed
			}
		}
		if oldest == "" {
			return
		}
		c.entries[oldest].m.Close(context.Background())
		delete(c.entries, oldest)
	}
}

func (c *moduleCache) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}
