// Package tiny assembles a few tiny WASI preview 1 modules in the raw
// WebAssembly binary format. No toolchain beyond Go is needed; the
// tinygen command writes them to files, and tests use Modules directly.
//
// The modules:
//
//	hello.wasm   writes "hello from wasm\n" to fd 1 with fd_write, returns (exit 0)
//	trap.wasm    _start executes `unreachable` (a trap)
//	spin.wasm    _start is an infinite `loop br 0 end` (no host calls)
//	exit42.wasm  calls proc_exit(42)
//
// Every module exports "memory" and "_start", as WASI preview 1 commands do.
// Format reference: https://webassembly.github.io/spec/core/binary/
package tiny

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Section ids (binary format §5.5.2).
const (
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secExport   = 7
	secCode     = 10
	secData     = 11
)

// Value types, type constructors and import/export kinds.
const (
	valI32    = 0x7f
	funcType  = 0x60 // introduces a function type: params vec, results vec
	kindFunc  = 0x00 // import/export of a function
	kindMem   = 0x02 // import/export of a memory
	limitsMin = 0x00 // limits with only a minimum (no maximum)
	blockVoid = 0x40 // empty block type
)

// Instruction opcodes used below.
const (
	opUnreachable = 0x00
	opLoop        = 0x03
	opBr          = 0x0c
	opEnd         = 0x0b
	opCall        = 0x10
	opDrop        = 0x1a
	opI32Const    = 0x41
)

// WASI preview 1 module name.
const wasiModule = "wasi_snapshot_preview1"

// preamble is every module's start: the magic "\0asm" and version 1.
var preamble = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// uleb encodes v as unsigned LEB128: 7 bits per byte, low bits first, the
// high bit set on every byte but the last.
func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

// sleb encodes v as signed LEB128 (used by i32.const immediates). It stops
// once the remaining value is all sign bits and the sign bit (0x40) of the
// last byte agrees with it.
func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7 // arithmetic shift keeps the sign
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// name encodes a UTF-8 name: byte length then bytes.
func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

// vec encodes a vector: element count then the already-encoded elements.
func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// cat concatenates byte slices (instruction sequences, fields of an entry).
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// section encodes a section: id byte, payload size, payload.
func section(id byte, payload []byte) []byte {
	return cat([]byte{id}, uleb(uint64(len(payload))), payload)
}

// i32const encodes `i32.const v`.
func i32const(v int32) []byte { return cat([]byte{opI32Const}, sleb(int64(v))) }

// call encodes `call funcidx`.
func call(idx uint32) []byte { return cat([]byte{opCall}, uleb(uint64(idx))) }

type sig struct{ params, results []byte }

type importFunc struct {
	module, field string
	typeIdx       uint32
}

type dataSeg struct {
	offset int32 // constant offset into memory 0
	bytes  []byte
}

// module is the small subset of a core module that the test modules need:
// imported functions come first in the function index space, then one
// defined function per entry of bodies.
type module struct {
	types   []sig
	imports []importFunc
	funcs   []uint32 // type index of each defined function
	bodies  [][]byte // instructions of each defined function, without the final end
	pages   uint32   // memory 0 minimum size in 64 KiB pages
	exports map[string][2]uint32
	data    []dataSeg
}

func (m module) encode() []byte {
	// Magic "\0asm" and version 1.
	out := slices.Clone(preamble)

	var types [][]byte
	for _, s := range m.types {
		types = append(types, cat([]byte{funcType}, vec(bytesEach(s.params)...), vec(bytesEach(s.results)...)))
	}
	out = append(out, section(secType, vec(types...))...)

	if len(m.imports) > 0 {
		var imps [][]byte
		for _, im := range m.imports {
			imps = append(imps, cat(name(im.module), name(im.field), []byte{kindFunc}, uleb(uint64(im.typeIdx))))
		}
		out = append(out, section(secImport, vec(imps...))...)
	}

	var funcs [][]byte
	for _, t := range m.funcs {
		funcs = append(funcs, uleb(uint64(t)))
	}
	out = append(out, section(secFunction, vec(funcs...))...)

	// One memory with only a minimum.
	out = append(out, section(secMemory, vec(cat([]byte{limitsMin}, uleb(uint64(m.pages)))))...)

	// Exports, sorted by name so output is deterministic.
	names := make([]string, 0, len(m.exports))
	for n := range m.exports {
		names = append(names, n)
	}
	sort.Strings(names)
	var exps [][]byte
	for _, n := range names {
		e := m.exports[n]
		exps = append(exps, cat(name(n), []byte{byte(e[0])}, uleb(uint64(e[1]))))
	}
	out = append(out, section(secExport, vec(exps...))...)

	// Code: each entry is size-prefixed; a body is a vector of local
	// declarations (none here), the instructions, and `end`.
	var codes [][]byte
	for _, b := range m.bodies {
		body := cat(vec(), b, []byte{opEnd})
		codes = append(codes, cat(uleb(uint64(len(body))), body))
	}
	out = append(out, section(secCode, vec(codes...))...)

	if len(m.data) > 0 {
		var segs [][]byte
		for _, d := range m.data {
			// Flag 0: active segment for memory 0, offset given by a
			// constant expression terminated by end.
			segs = append(segs, cat(uleb(0), i32const(d.offset), []byte{opEnd}, uleb(uint64(len(d.bytes))), d.bytes))
		}
		out = append(out, section(secData, vec(segs...))...)
	}
	return out
}

// bytesEach turns a list of single-byte value types into vector elements.
func bytesEach(bs []byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = []byte{b}
	}
	return out
}

// le32 encodes v as 4 little-endian bytes (memory contents).
func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// voidModule builds a module with no imports whose _start runs body.
func voidModule(body []byte) module {
	return module{
		types:   []sig{{}}, // type 0: () -> ()
		funcs:   []uint32{0},
		bodies:  [][]byte{body},
		pages:   1,
		exports: map[string][2]uint32{"memory": {kindMem, 0}, "_start": {kindFunc, 0}},
	}
}

// HelloText is what hello.wasm writes to stdout.
const HelloText = "hello from wasm\n"

// Modules returns the generated modules by file name.
func Modules() map[string][]byte {
	// hello.wasm memory layout:
	//   0..8   iovec {buf = 16, buf_len = len(HelloText)}
	//   8..12  nwritten (written by fd_write)
	//   16..   the text
	const iovOff, nwrittenOff, textOff = 0, 8, 16
	hello := module{
		types: []sig{
			{params: []byte{valI32, valI32, valI32, valI32}, results: []byte{valI32}}, // 0: fd_write(fd, iovs, iovs_len, nwritten) -> errno
			{}, // 1: _start() -> ()
		},
		imports: []importFunc{{wasiModule, "fd_write", 0}}, // func 0
		funcs:   []uint32{1},                               // func 1 = _start
		bodies: [][]byte{cat(
			i32const(1),           // fd = stdout
			i32const(iovOff),      // iovs
			i32const(1),           // iovs_len
			i32const(nwrittenOff), // where to store bytes written
			call(0),               // fd_write
			[]byte{opDrop},        // ignore errno; returning from _start means exit 0
		)},
		pages:   1,
		exports: map[string][2]uint32{"memory": {kindMem, 0}, "_start": {kindFunc, 1}},
		data: []dataSeg{
			{offset: iovOff, bytes: cat(le32(textOff), le32(uint32(len(HelloText))))},
			{offset: textOff, bytes: []byte(HelloText)},
		},
	}

	exit42 := module{
		types: []sig{
			{params: []byte{valI32}}, // 0: proc_exit(code) -> ()
			{},                       // 1: _start() -> ()
		},
		imports: []importFunc{{wasiModule, "proc_exit", 0}},
		funcs:   []uint32{1},
		// proc_exit does not return; unreachable documents that.
		bodies:  [][]byte{cat(i32const(42), call(0), []byte{opUnreachable})},
		pages:   1,
		exports: map[string][2]uint32{"memory": {kindMem, 0}, "_start": {kindFunc, 1}},
	}

	return map[string][]byte{
		"hello.wasm":  hello.encode(),
		"exit42.wasm": exit42.encode(),
		"trap.wasm":   voidModule([]byte{opUnreachable}).encode(),
		// loop (empty block type) ; br 0 jumps back to the loop start ; end
		"spin.wasm": voidModule(cat([]byte{opLoop, blockVoid}, []byte{opBr}, uleb(0), []byte{opEnd})).encode(),
	}
}

// Generate writes all modules into dir, creating it if needed, and returns
// the written paths sorted.
func Generate(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	mods := Modules()
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, mods[n], 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
