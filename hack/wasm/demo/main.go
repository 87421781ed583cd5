// Command demo is a WASI preview 1 test program modelled on runwasi's
// wasi-demo-app, plus subcommands our tests need. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -o demo.wasm ./hack/wasm/demo
//
// It is portable Go: the benchmarks build it natively too (CGO_ENABLED=0,
// static) as runc's equivalent of the module.
//
// Usage: demo [SUBCOMMAND ARGS...]; with no subcommand it prints
// "hello from wasm". Unknown subcommands print to stderr and exit 2.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

var sink int // keeps spin's loop from being optimised away

func main() {
	args := os.Args[1:]
	// Installed as /bin/echo (critest's execSync runs `echo -n hello`),
	// the program is the subcommand its name says, as in busybox.
	if name := strings.TrimSuffix(path.Base(os.Args[0]), ".wasm"); name == "echo" {
		args = append([]string{name}, args...)
	}
	if len(args) == 0 {
		fmt.Println("hello from wasm")
		return
	}
	cmd, rest := args[0], args[1:]
	need := func(n int) {
		if len(rest) < n {
			fail(2, "%s: need %d argument(s)", cmd, n)
		}
	}
	switch cmd {
	case "echo":
		if len(rest) > 0 && rest[0] == "-n" {
			fmt.Print(strings.Join(rest[1:], " "))
		} else {
			fmt.Println(strings.Join(rest, " "))
		}
	case "sleep":
		need(1)
		d, err := time.ParseDuration(rest[0])
		if err != nil { // plain (possibly fractional) seconds, as in runwasi
			s, ferr := strconv.ParseFloat(rest[0], 64)
			if ferr != nil {
				fail(2, "sleep: bad duration %q", rest[0])
			}
			d = time.Duration(s * float64(time.Second))
		}
		time.Sleep(d)
		if len(rest) > 1 { // sleep DURATION EXIT: then exit with that code
			n, err := strconv.Atoi(rest[1])
			if err != nil {
				fail(2, "sleep: bad exit code %q", rest[1])
			}
			os.Exit(n)
		}
	case "exit":
		need(1)
		n, err := strconv.Atoi(rest[0])
		if err != nil {
			fail(2, "exit: bad code %q", rest[0])
		}
		os.Exit(n)
	case "write":
		need(2) // like runwasi, the remaining args are joined by spaces
		check(os.WriteFile(rest[0], []byte(strings.Join(rest[1:], " ")), 0o644))
	case "cat":
		if len(rest) == 0 {
			_, err := io.Copy(os.Stdout, os.Stdin)
			check(err)
			return
		}
		for _, f := range rest {
			b, err := os.ReadFile(f)
			check(err)
			os.Stdout.Write(b)
		}
	case "daemon":
		for i := 0; ; i++ {
			fmt.Printf("daemon tick %d\n", i)
			time.Sleep(time.Second)
		}
	case "stderr":
		fmt.Fprintln(os.Stderr, strings.Join(rest, " "))
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, kv := range env {
			fmt.Println(kv)
		}
	case "args":
		for _, a := range os.Args {
			fmt.Println(a)
		}
	case "pwd":
		wd, err := os.Getwd()
		check(err)
		fmt.Println(wd)
	case "ls":
		dir := "."
		if len(rest) > 0 {
			dir = rest[0]
		}
		entries, err := os.ReadDir(dir)
		check(err)
		for _, e := range entries {
			suffix := ""
			if e.IsDir() {
				suffix = "/"
			}
			fmt.Println(e.Name() + suffix)
		}
	case "spin":
		for {
			sink++
		}
	case "alloc":
		need(1)
		mb, err := strconv.Atoi(rest[0])
		if err != nil || mb < 0 {
			fail(2, "alloc: bad size %q", rest[0])
		}
		buf := make([]byte, mb<<20)
		for i := 0; i < len(buf); i += 4096 { // touch every page
			buf[i] = 1
		}
		fmt.Printf("allocated %d MiB\n", mb)
	case "allocin":
		// Each line of stdin is a number of MiB to allocate on top of what
		// is held, so a test can change the memory limit in between.
		var held [][]byte
		sc := bufio.NewScanner(os.Stdin)
		total := 0
		for sc.Scan() {
			mb, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
			if err != nil || mb < 0 {
				fail(2, "allocin: bad size %q", sc.Text())
			}
			buf := make([]byte, mb<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = 1
			}
			held = append(held, buf)
			total += mb
			fmt.Printf("allocated %d MiB\n", total)
		}
		fmt.Printf("held %d buffers\n", len(held))
	case "blast": // the benchmarks' log figure: MiB to stdout, 64 KiB a write
		need(1)
		mb, err := strconv.Atoi(rest[0])
		if err != nil || mb < 0 {
			fail(2, "blast: bad size %q", rest[0])
		}
		buf := []byte(strings.Repeat(strings.Repeat("x", 63)+"\n", 1024))
		for range mb * 16 {
			_, err := os.Stdout.Write(buf)
			check(err)
		}
	case "panic":
		panic("demo panic")
	default:
		fail(2, "unknown command: %s", cmd)
	}
}

func check(err error) {
	if err != nil {
		fail(1, "%v", err)
	}
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(code)
}
