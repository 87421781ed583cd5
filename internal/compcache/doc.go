// Package compcache keeps wazero's compiled machine code on disk across
// daemon restarts, bounded in size (least recently used entries are evicted
// first) and never trusting an entry it cannot vouch for: every entry is
// checked against a sha256 recorded when it was written, before any runtime
// can read it.
//
// # What wazero v1.12.0 does on its own
//
// Read in $(go env GOMODCACHE)/github.com/tetratelabs/wazero@v1.12.0:
//
// Layout. cache.go:NewCompilationCacheWithDir calls (*cache).ensuresFileCache,
// which creates dir (0700 when missing; "is not dir" error for a file) and
// dir/wazero-<version>-<GOARCH>-<GOOS>, version being the wazero version in
// the binary's build info (internal/version.GetWazeroVersion, "dev" when
// absent). internal/filecache/file_cache.go keeps one flat file per entry,
// named hex(key) (fileCache.path). Add writes "<hex>.*.tmp" with
// os.CreateTemp, fsyncs it and renames it over the name (the directory is not
// fsynced); Get is a plain os.Open whose *os.File the engine reads and
// closes; Delete is os.Remove. No size bound, no eviction, no integrity data
// of its own.
//
// Key. internal/engine/wazevo/engine_cache.go:fileCacheKey is
// sha256(module.ID ‖ "WAZEVO" ‖ CPU feature bits), and module.ID
// (internal/wasm/module.go:AssignModuleID) is sha256(binary ‖ listener flags
// ‖ ensureTermination flag). The interpreter engine ignores the file cache.
//
// Format. engine_cache.go:serializeCompiledModule writes, little endian:
// "WAZEVO", u8 len(version), version, u32 nfuncs, nfuncs × u64 function
// offsets, u64 len(code), the machine code, u32 CRC-32C of the machine code,
// u8 source-map flag [u64 n, n × (u64, u64)], u32 ntables, per table u32
// count and count × (u8 kind, u32 tag).
//
// Validation. engine_cache.go:deserializeCompiledModule checks the magic, the
// version string and the CRC-32C, which covers the machine code only. Function
// offsets, lengths, counts, the source map and the catch-clause table are
// trusted: counts size allocations (make([]int, nfuncs), the catch table) and
// offsets become jump targets.
//
// On failure. engine_cache.go:getCompiledModuleFromCache deletes the entry and
// recompiles only when it is "stale" (another version string, or the file
// ends before the catch-table count). Any other error is returned:
// engine.go:(*engine).CompileModule hands it to Runtime.CompileModule, which
// fails; wazero does not fall back to compiling and does not delete the file,
// so every later compile of that module fails until someone removes it.
// Measured on linux/amd64 with tiny.Modules()["hello.wasm"] (a 144-byte
// entry): a flipped machine-code byte gives "compilationcache: checksum
// mismatch"; a truncation inside the code "error reading executable ...
// unexpected EOF"; garbage "invalid magic number"; an altered version byte
// and the loss of the last 4 bytes are stale, so recompiled. Undetected: +3
// on the function offset compiles, then the call faults in JIT code (SIGSEGV,
// "fatal error: fault", the whole process dies); setting the high byte of the
// catch-table count makes a slice of 0x7f000000 slices ("fatal error:
// runtime: out of memory"; TestWazeroAloneCrashesOnUncheckedField). Neither
// is a recoverable panic.
//
// Extension points. filecache.Cache is internal. wazero.CompilationCache is
// interface{ api.Closer }, documented as "not for third-party
// implementations", and runtime.go:NewRuntimeWithConfig type-asserts it to
// wazero's *cache. The experimental packages have no file-cache hook. So this
// package keeps wazero's directory cache and adds an integrity layer around it.
//
// # Design
//
// dir holds wazero's version directory (its name learnt by letting wazero
// create one in an empty probe directory), index.json (the record of every
// entry we vouch for: size, sha256, last use on a logical clock) and lock
// (flock, so one Cache per directory). Open verifies before any runtime
// exists: other wazero-* directories (other versions) are removed, and so is
// every file in our version directory that is not a regular file of ours
// with a 64-hex name, has no record, or whose size or sha256 differ from its
// record; then entries are evicted, least recently used first, down to the
// bound. A missing or unreadable index vouches for nothing, so all entries
// are removed. The index is written with temp file + fsync + rename +
// directory fsync; a crash leaves at worst an unknown file or a record
// without a file, both handled by the next Open.
//
// wazero writes entries lazily, on a compile miss. Sweep records the new ones
// (complete files, as wazero renames them into place) and evicts. The trust
// assumption: a file that appears while the Cache is open was written by
// wazero in this process or in one of the daemon's pod servers, which use
// the directory through Shared (it is 0700, root's, and locked against a
// second owner). An inotify
// watch on the version directory reports every open and rename, which is how
// disk hits, invisible otherwise, move an entry to the front of the LRU order.
// A recorded entry whose inode, size, mtime or ctime changed is re-hashed:
// another inode is a fresh write by wazero (re-recorded), the same inode with
// other bytes is an in-place change (removed). Removing a file wazero is
// reading is safe: Get reads through an open descriptor, and on Linux an
// unlinked open file stays readable; removing it before wazero opens it is a
// miss.
//
// Limits. Bit rot during the process's life, on an entry wazero reads before
// the next Open, is left to wazero's CRC (the machine code is covered). A
// module that stays compiled in memory never reopens its file, so its entry
// looks unused from the disk's point of view.
package compcache
