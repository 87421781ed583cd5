package engine

import (
	"fmt"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/errkind"
)

// maxFunctionLocals bounds the locals one function may declare, as
// wasmparser (wasmtime) and V8 do. The binary format allows 2^32-1, and
// wazero 1.12 allocates a byte per declared local before it validates the
// body: a 30-byte module declaring 2^32-1 locals made the process die of
// "runtime: out of memory" (a fatal error no recover catches), taking the
// daemon and every goroutine-mode module with it.
const maxFunctionLocals = 50000

// sectionCode is the id of the code section (binary format §5.5.2).
const sectionCode = 10

// checkLocals refuses a module whose code section declares more than
// maxFunctionLocals locals in one function. It reads only the section
// headers and each body's local declarations; anything malformed is left
// to wazero's decoder, which reports it.
func checkLocals(name string, bin []byte) error {
	r := reader{b: bin, i: 8}
	for r.i < len(r.b) {
		id := r.b[r.i]
		r.i++
		size, ok := r.uleb()
		if !ok || size > uint64(len(r.b)-r.i) {
			return nil
		}
		end := r.i + int(size)
		if id != sectionCode {
			r.i = end
			continue
		}
		s := reader{b: r.b[:end], i: r.i}
		funcs, ok := s.uleb()
		if !ok {
			return nil
		}
		for fn := uint64(0); fn < funcs; fn++ {
			bodySize, ok := s.uleb()
			if !ok || bodySize > uint64(len(s.b)-s.i) {
				return nil
			}
			next := s.i + int(bodySize)
			body := reader{b: s.b[:next], i: s.i}
			decls, ok := body.uleb()
			if !ok {
				return nil
			}
			var locals uint64
			for d := uint64(0); d < decls; d++ {
				n, ok := body.uleb()
				if !ok || body.i >= len(body.b) {
					return nil
				}
				body.i++ // the value type (reference types' heap types are never this far)
				if locals += n; locals > maxFunctionLocals {
					return fmt.Errorf("%s: function %d declares more than %d locals: %w", name, fn, maxFunctionLocals, errkind.InvalidArgument)
				}
			}
			s.i = next
		}
		return nil
	}
	return nil
}

// reader decodes unsigned LEB128 numbers from b at i.
type reader struct {
	b []byte
	i int
}

// uleb reads an unsigned LEB128 of at most 64 bits.
func (r *reader) uleb() (uint64, bool) {
	var v uint64
	for shift := 0; shift < 64 && r.i < len(r.b); shift += 7 {
		c := r.b[r.i]
		r.i++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, true
		}
	}
	return 0, false
}
