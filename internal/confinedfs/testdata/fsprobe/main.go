//go:build wasip1

// Command fsprobe is the WASI guest of the confinedfs end-to-end tests.
//
//	fsprobe PATH...          prints "PATH: <content>" or "PATH: error: <err>" per path
//	fsprobe write PATH DATA  writes DATA to PATH, prints "write PATH: ok" or an error
//	fsprobe ls DIR           prints "ls DIR: name1,name2,..." or an error
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 3 && args[0] == "write":
		report("write "+args[1], "ok", os.WriteFile(args[1], []byte(args[2]), 0o644))
	case len(args) == 2 && args[0] == "ls":
		entries, err := os.ReadDir(args[1])
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		report("ls "+args[1], strings.Join(names, ","), err)
	default:
		for _, p := range args {
			data, err := os.ReadFile(p)
			report(p, string(data), err)
		}
	}
}

func report(what, result string, err error) {
	if err != nil {
		fmt.Printf("%s: error: %v\n", what, err)
		return
	}
	fmt.Printf("%s: %s\n", what, result)
}
