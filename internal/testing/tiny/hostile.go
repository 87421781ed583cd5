package tiny

import "encoding/binary"

// Hostile modules for the bad-input tests: each is small and either
// invalid in a way a parser must survive, or valid and asking for more
// than a runtime should give.
//
//	recurse.wasm     _start calls itself forever: exhausts the call stack (a trap)
//	bigmem.wasm      memory minimum of 32768 pages (2 GiB), above the default 1 GiB limit
//	overmem.wasm     memory minimum of 65537 pages, above wasm32's 4 GiB (invalid)
//	bigtable.wasm    a funcref table whose minimum is 2^32-1 elements
//	hugesection.wasm a type section that declares 2^32-1 bytes and holds 1
//	hugevec.wasm     a type section that declares 2^32-1 types and holds 1
//	hugelocals.wasm  a function declaring 2^32-1 locals
//	truncated.wasm   hello.wasm cut in the middle of its code section
func Hostile() map[string][]byte {
	const (
		secTable = 4
		funcRef  = 0x70
	)
	recurse := voidModule(call(0)) // func 0 is _start: call 0
	bigmem := voidModule(nil)
	bigmem.pages = 32768
	overmem := voidModule(nil)
	overmem.pages = 65537

	header := preamble
	void := voidModule(nil).encode()
	// The table section goes after the function section (id 3) and before
	// the memory section (id 5): splice it in front of the memory section.
	memAt := indexSection(void, secMemory)
	bigtable := cat(void[:memAt], section(secTable, vec(cat([]byte{funcRef, limitsMin}, uleb(1<<32-1)))), void[memAt:])

	hugeLocals := cat(header,
		section(secType, vec(cat([]byte{funcType}, vec(), vec()))),
		section(secFunction, vec(uleb(0))),
		// One local declaration: count 2^32-1 of type i32; then end.
		section(secCode, vec(func() []byte {
			body := cat(vec(cat(uleb(1<<32-1), []byte{valI32})), []byte{opEnd})
			return cat(uleb(uint64(len(body))), body)
		}())),
	)
	hello := Modules()["hello.wasm"]
	return map[string][]byte{
		"recurse.wasm":     recurse.encode(),
		"bigmem.wasm":      bigmem.encode(),
		"overmem.wasm":     overmem.encode(),
		"bigtable.wasm":    bigtable,
		"hugesection.wasm": cat(header, []byte{secType}, uleb(1<<32-1), []byte{0}),
		"hugevec.wasm":     cat(header, []byte{secType, 6}, uleb(1<<32-1), []byte{funcType}),
		"hugelocals.wasm":  hugeLocals,
		"truncated.wasm":   hello[:indexSection(hello, secCode)+4],
	}
}

// indexSection returns the offset of the first section with id in an
// encoded module (whose sections this package wrote), or len(b).
func indexSection(b []byte, id byte) int {
	for i := 8; i < len(b); {
		if b[i] == id {
			return i
		}
		size, n := binary.Uvarint(b[i+1:]) // LEB128 is Uvarint's encoding
		i += 1 + n + int(size)
	}
	return len(b)
}
