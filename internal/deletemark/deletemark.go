// Package deletemark is the record a task leaves in its bundle when it is
// deleted through the task API, for the runtime binary's `delete`.
//
// containerd runs the runtime binary's `delete` after every task delete
// (closing the task's ttrpc connection fires its dead-shim cleanup), not
// only after a shim died. With the record there, `delete` has nothing to
// clean and only prints the recorded answer; without it, the task's
// endpoint went away with the task still in it and `delete` cleans up.
// The runtime binary (cmd/containerd-shim-wasm-v1/front/main.c, in C, so
// that it starts in half a millisecond) reads File by name and bounds it as
// Read does.
package deletemark

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is the record's name in the bundle.
const File = "wasm-sandboxer-deleted"

// maxSize bounds what Read accepts: the record is a task API
// DeleteResponse of a few dozen bytes.
const maxSize = 4096

// Write records response, the task API DeleteResponse of the task whose
// bundle this is (serialized), as the bundle's delete record.
func Write(bundle string, response []byte) error {
	if len(response) > maxSize {
		return fmt.Errorf("delete record of %d bytes: at most %d", len(response), maxSize)
	}
	return os.WriteFile(filepath.Join(bundle, File), response, 0o600)
}

// Read returns the bundle's delete record; an error satisfying
// os.IsNotExist when there is none.
func Read(bundle string) ([]byte, error) {
	f, err := os.Open(filepath.Join(bundle, File))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("delete record %s: more than %d bytes", filepath.Join(bundle, File), maxSize)
	}
	return b, nil
}
