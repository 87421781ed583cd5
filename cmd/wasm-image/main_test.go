package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(mod, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "extra.txt")
	if err := os.WriteFile(extra, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		errText string
	}{
		{"ok rootfs", []string{"-module", mod, "-name", "hello", "-o", out, "-arg", "a", "-arg", "b", "-env", "K=V", "-workdir", "/", "-file", extra + ":/etc/x"}, 0, ""},
		{"ok wasm-layer", []string{"-module", mod, "-name", "hello", "-o", out, "-format", "wasm-layer", "-index-platform"}, 0, ""},
		{"ok artifact", []string{"-module", mod, "-name", "hello", "-o", out, "-format", "artifact", "-created", "2024-01-01T00:00:00Z"}, 0, ""},
		{"missing module", []string{"-name", "hello", "-o", out}, 2, "-module is required"},
		{"missing name", []string{"-module", mod, "-o", out}, 2, "-name is required"},
		{"missing out", []string{"-module", mod, "-name", "hello"}, 2, "-o is required"},
		{"unknown flag", []string{"-bogus"}, 2, "flag provided but not defined"},
		{"bad format", []string{"-module", mod, "-name", "hello", "-o", out, "-format", "docker"}, 2, "invalid Format"},
		{"bad name", []string{"-module", mod, "-name", "Bad Name", "-o", out}, 2, "invalid Name"},
		{"bad env", []string{"-module", mod, "-name", "hello", "-o", out, "-env", "X"}, 2, "invalid Env"},
		{"bad platform", []string{"-module", mod, "-name", "hello", "-o", out, "-platform", "linux"}, 2, "-platform"},
		{"bad file", []string{"-module", mod, "-name", "hello", "-o", out, "-file", "nocolon"}, 2, "SRC:DEST"},
		{"no such module", []string{"-module", filepath.Join(dir, "nope"), "-name", "hello", "-o", out}, 2, "no such file"},
		{"extra args", []string{"-module", mod, "-name", "hello", "-o", out, "stray"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.errText) {
				t.Fatalf("exit %d, stderr %q; want exit %d containing %q", code, stderr.String(), tc.code, tc.errText)
			}
			_, err := os.Stat(out)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("archive not written: %v", err)
				}
				if !strings.Contains(stdout.String(), "sha256:") || !strings.Contains(stdout.String(), "docker.io/library/hello:latest") {
					t.Fatalf("stdout %q", stdout.String())
				}
			} else if err == nil {
				t.Fatal("archive written despite the error")
			}
		})
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".img.tar.*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
}
