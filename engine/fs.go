package engine

import (
	"fmt"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// OpenFS opens what a module sees: rootfs as "/", and each of cfg's
// preopens from dir (its host path in the daemon, its path under /job in a
// forked worker); all confined, read-only where cfg says.
func OpenFS(rootfs string, cfg wasispec.Config, dir func(i int, p wasispec.Preopen) string) (*confinedfs.FS, []*confinedfs.FS, error) {
	root, err := openConfined(rootfs, cfg.RootReadOnly)
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs %q: %w", rootfs, err)
	}
	var mounts []*confinedfs.FS
	for i, p := range cfg.Preopens {
		m, err := openConfined(dir(i, p), p.ReadOnly)
		if err != nil {
			CloseFS(root, mounts)
			return nil, nil, fmt.Errorf("mount %s: %w", p.GuestPath, err)
		}
		mounts = append(mounts, m)
	}
	return root, mounts, nil
}

func openConfined(path string, readOnly bool) (*confinedfs.FS, error) {
	if readOnly {
		return confinedfs.New(path, confinedfs.ReadOnly())
	}
	return confinedfs.New(path)
}

// CloseFS closes what OpenFS opened.
func CloseFS(root *confinedfs.FS, mounts []*confinedfs.FS) error {
	err := root.Close()
	for _, m := range mounts {
		if e := m.Close(); err == nil {
			err = e
		}
	}
	return err
}
