// Command compute is the CPU-bound workload of the benchmarks' compute
// figure (make bench, figure 8): the same binary runs under `wazero run`
// and through each runtime, and times itself inside the guest, so the
// figure compares the engine's speed, not the start.
//
//	compute sha256 MIB      hash MIB MiB of memory with SHA-256
//	compute gzip MIB        compress then decompress MIB MiB
//	compute writes N        N small writes to stdout's descriptor (host calls)
//
// It prints one line, "<workload> <milliseconds>", and exits 0.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: compute sha256|gzip|writes N"))
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n <= 0 {
		fail(fmt.Errorf("bad size %q", os.Args[2]))
	}
	work := map[string]func(int) error{"sha256": hash, "gzip": zip, "writes": writes}[os.Args[1]]
	if work == nil {
		fail(fmt.Errorf("unknown workload %q", os.Args[1]))
	}
	start := time.Now()
	if err := work(n); err != nil {
		fail(err)
	}
	fmt.Printf("%s %.3f\n", os.Args[1], float64(time.Since(start).Microseconds())/1000)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compute:", err)
	os.Exit(2)
}

// alphabet is what data is made of.
const alphabet = "abcdefghij klmnopqrstuvwxyz,.\n"

// data is n MiB of text-like bytes: compressible, as logs and JSON are.
func data(mib int) []byte {
	b := make([]byte, mib<<20)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return b
}

func hash(mib int) error {
	h := sha256.New()
	chunk := data(1)
	for range mib {
		h.Write(chunk)
	}
	if len(h.Sum(nil)) != sha256.Size {
		return fmt.Errorf("short sum")
	}
	return nil
}

func zip(mib int) error {
	in := data(mib)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(in); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	r, err := gzip.NewReader(&z)
	if err != nil {
		return err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(in, out) {
		return fmt.Errorf("round trip differs")
	}
	return nil
}

// writes makes n 16-byte writes to a descriptor that discards them (stderr
// is the task's log in the runtimes and /dev/null's stand-in under wazero
// run; each is one fd_write host call either way).
func writes(n int) error {
	msg := []byte("0123456789abcde\n")
	f := os.NewFile(2, "stderr")
	for range n {
		if _, err := f.Write(msg); err != nil {
			return err
		}
	}
	return nil
}
