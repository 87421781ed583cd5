package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/deletemark"
)

func TestAnswerDelete(t *testing.T) {
	bundle := t.TempDir()
	rec := []byte{0x08, 0x2a, 0x10, 0x89, 0x01}
	if err := deletemark.Write(bundle, rec); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	// As containerd's shim protocol calls it (core/runtime/v2/binary.go).
	args := func(bundle string, rest ...string) []string {
		return append([]string{"-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
			"-publish-binary", "/usr/bin/containerd", "-debug", "-id", "c1", "-bundle", bundle}, rest...)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		answered bool
		out      []byte
	}{
		{"delete of a deleted task", args(bundle, "delete"), true, rec},
		{"delete without a record", args(empty, "delete"), false, nil},
		{"start", args(bundle, "start"), false, nil},
		{"info", []string{"-info"}, false, nil},
		{"version", []string{"-v"}, false, nil},
		{"unknown flag", append([]string{"-no-such-flag"}, args(bundle, "delete")...), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			ok, err := answerDelete(tc.args, &out)
			if err != nil || ok != tc.answered || !bytes.Equal(out.Bytes(), tc.out) {
				t.Fatalf("answerDelete = %v, %v, output %x; want %v, nil, %x", ok, err, out.Bytes(), tc.answered, tc.out)
			}
		})
	}
}

func TestAnswerDeleteInBundleDir(t *testing.T) {
	bundle := t.TempDir()
	if err := deletemark.Write(bundle, []byte{0x10, 0x01}); err != nil {
		t.Fatal(err)
	}
	t.Chdir(bundle) // containerd runs delete in the bundle
	var out bytes.Buffer
	if ok, err := answerDelete([]string{"-id", "c1", "delete"}, &out); !ok || err != nil || !bytes.Equal(out.Bytes(), []byte{0x10, 0x01}) {
		t.Fatalf("answerDelete without -bundle = %v, %v, %x", ok, err, out.Bytes())
	}
}

func TestAnswerDeleteBadRecord(t *testing.T) {
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, deletemark.File), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ok, err := answerDelete([]string{"-bundle", bundle, "delete"}, &out)
	if ok || err == nil || out.Len() != 0 {
		t.Fatalf("answerDelete of an oversized record = %v, %v, %d bytes out; want an error and no output", ok, err, out.Len())
	}
}

func TestFindDaemon(t *testing.T) {
	dir, onPath := t.TempDir(), t.TempDir()
	self := filepath.Join(dir, "containerd-shim-wasm-v1")
	t.Setenv(binaryEnv, "/opt/ws/wasm-sandboxer")
	if p, err := findDaemon(self); err != nil || p != "/opt/ws/wasm-sandboxer" {
		t.Fatalf("findDaemon with %s set = %q, %v", binaryEnv, p, err)
	}
	t.Setenv(binaryEnv, "")
	t.Setenv("PATH", onPath)
	_, err := findDaemon(self)
	if err == nil || !strings.Contains(err.Error(), binaryEnv) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("findDaemon with nothing to find: %v, want an error naming %s", err, binaryEnv)
	}
	pathBin := filepath.Join(onPath, daemonBinary)
	if err := os.WriteFile(pathBin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := findDaemon(self); err != nil || p != pathBin {
		t.Fatalf("findDaemon with it on PATH = %q, %v; want %s", p, err, pathBin)
	}
	next := filepath.Join(dir, daemonBinary)
	if err := os.WriteFile(next, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := findDaemon(self); err != nil || p != next {
		t.Fatalf("findDaemon with it next to the runtime binary = %q, %v; want %s (before PATH)", p, err, next)
	}
}
