package deletemark

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !os.IsNotExist(err) {
		t.Fatalf("Read of a bundle without a record: %v, want not exist", err)
	}
	want := []byte{0x08, 0x2a, 0x10, 0x89, 0x01}
	if err := Write(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Read = %x, %v; want %x", got, err, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, File)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record mode: %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestSizeBounded(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, make([]byte, maxSize+1)); err == nil {
		t.Fatal("Write of an oversized record succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, File), make([]byte, maxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("Read of an oversized record: %v, want an error naming the bound", err)
	}
}
