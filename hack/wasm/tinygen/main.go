// Command tinygen writes the tiny test modules of package tiny to a
// directory:
//
//	go run ./hack/wasm/tinygen -out DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

func main() {
	out := flag.String("out", "", "directory to write the modules into (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tinygen -out DIR")
		os.Exit(2)
	}
	paths, err := tiny.Generate(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tinygen:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}
