// Package shimfront tests the runtime binary containerd-shim-wasm-v1, whose
// source is front/main.c: it is built with the C compiler as `make build`
// builds it, and run as containerd runs it.
package shimfront

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/deletemark"
)

// build compiles front/main.c into dir.
func build(t *testing.T, dir string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	bin := filepath.Join(dir, "containerd-shim-wasm-v1")
	out, err := exec.Command(cc, "-static", "-Os", "-Wall", "-Wextra", "-Werror", "-std=c11", "-D_DEFAULT_SOURCE",
		"-o", bin, filepath.Join("front", "main.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("build the runtime binary (a C compiler and a static libc, as make build needs): %v\n%s", err, out)
	}
	return bin
}

// fakeDaemon writes a wasm-sandboxer into dir that prints its arguments.
func fakeDaemon(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "wasm-sandboxer")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho \"daemon $*\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin, cwd string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = cwd
	cmd.Env = append([]string{"PATH=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// containerdArgs are the arguments containerd gives a runtime binary
// (core/runtime/v2/binary.go), then rest.
func containerdArgs(bundle string, rest ...string) []string {
	return append([]string{"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
		"-publish-binary", "/usr/bin/containerd", "-debug", "-id", "c1", "-bundle", bundle}, rest...)
}

// TestDeleteAnswersFromRecord: a delete of a task deleted through the task
// API prints the bundle's record, with -bundle or run in the bundle, and
// starts nothing else.
func TestDeleteAnswersFromRecord(t *testing.T) {
	bin := build(t, t.TempDir())
	bundle := t.TempDir()
	rec := []byte{0x08, 0x2a, 0x10, 0x89, 0x01, 0x00, 0xff}
	if err := deletemark.Write(bundle, rec); err != nil {
		t.Fatal(err)
	}
	daemon := []string{"WASM_SANDBOXER_BINARY=" + fakeDaemon(t, t.TempDir())}
	for name, args := range map[string][]string{
		"-bundle":        containerdArgs(bundle, "delete"),
		"-bundle=":       {"-id=c1", "--bundle=" + bundle, "delete"},
		"in the bundle":  {"-namespace", "default", "-id", "c1", "delete"},
		"flags as -flag": {"-debug=true", "-bundle", bundle, "delete"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, bin, bundle, daemon, args...)
			if r.code != 0 || r.stdout != string(rec) || r.stderr != "" {
				t.Fatalf("exit %d, stdout %x, stderr %q; want 0, the record %x", r.code, r.stdout, r.stderr, rec)
			}
		})
	}
}

// TestHandsOff: anything else goes to `wasm-sandboxer runtime-binary` with
// the same arguments: a delete without a record (a real cleanup), start,
// -info, -v, an unknown flag, arguments after the action.
func TestHandsOff(t *testing.T) {
	bin := build(t, t.TempDir())
	bundle := t.TempDir()
	daemon := []string{"WASM_SANDBOXER_BINARY=" + fakeDaemon(t, t.TempDir())}
	for name, args := range map[string][]string{
		"delete without a record": containerdArgs(bundle, "delete"),
		"start":                   containerdArgs(bundle, "start"),
		"info":                    {"-info"},
		"version":                 {"-v"},
		"unknown flag":            append([]string{"-no-such-flag"}, containerdArgs(bundle, "delete")...),
		"after the action":        containerdArgs(bundle, "delete", "extra"),
		"no action":               containerdArgs(bundle),
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, bin, bundle, daemon, args...)
			want := "daemon runtime-binary " + strings.Join(args, " ") + "\n"
			if r.code != 0 || r.stdout != want {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

// TestFindsDaemon: the daemon binary next to the runtime binary before the
// one on PATH; none anywhere is a clear error.
func TestFindsDaemon(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir)
	bundle := t.TempDir()
	onPath := t.TempDir()
	fakeDaemon(t, onPath)
	r := run(t, bin, bundle, []string{"PATH=" + onPath}, "-id", "c1", "start")
	if r.code != 0 || r.stdout != "daemon runtime-binary -id c1 start\n" {
		t.Fatalf("daemon on PATH: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm-sandboxer"), []byte("#!/bin/sh\necho next $*\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = run(t, bin, bundle, []string{"PATH=" + onPath}, "-id", "c1", "start")
	if r.code != 0 || r.stdout != "next runtime-binary -id c1 start\n" {
		t.Fatalf("daemon next to the runtime binary: exit %d, stdout %q, stderr %q; want it before PATH's", r.code, r.stdout, r.stderr)
	}
	lone := build(t, t.TempDir())
	r = run(t, lone, bundle, nil, "-id", "c1", "start")
	if r.code == 0 || !strings.Contains(r.stderr, "WASM_SANDBOXER_BINARY") || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("no daemon anywhere: exit %d, stderr %q; want a failure naming WASM_SANDBOXER_BINARY", r.code, r.stderr)
	}
}

// TestBadRecord: a record over the bound, or a symlink in its place, is an
// error that says so; nothing reaches stdout, where containerd would parse
// it.
func TestBadRecord(t *testing.T) {
	bin := build(t, t.TempDir())
	daemon := []string{"WASM_SANDBOXER_BINARY=" + fakeDaemon(t, t.TempDir())}
	big := t.TempDir()
	if err := os.WriteFile(filepath.Join(big, deletemark.File), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	link := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(link, deletemark.File)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ bundle, want string }{
		"oversized": {big, "more than 4096 bytes"},
		"symlink":   {link, "delete record"},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, bin, c.bundle, daemon, containerdArgs(c.bundle, "delete")...)
			if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d, stdout %d bytes, stderr %q; want a failure saying %q", r.code, len(r.stdout), r.stderr, c.want)
			}
		})
	}
}
