package worker

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/workerproto"
	"golang.org/x/sys/unix"
)

// buildRoot makes the worker's root: a small read-only tmpfs holding only
// /job (a propagation slave of the daemon's job dir, where each job's
// rootfs, mounts and fifos appear) and /cache (compiled code, read-only),
// then pivots into it and detaches the host's tree.
func buildRoot(h *workerproto.Hello) error {
	// Nothing mounted here may propagate back to the host; mounts the
	// daemon makes in the job dir still propagate in.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	nr := h.NewRoot
	if err := unix.Mount("tmpfs", nr, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("mount tmpfs root: %w", err)
	}
	if err := bind(h.JobDir, filepath.Join(nr, workerproto.JobDir), false); err != nil {
		return fmt.Errorf("job dir: %w", err)
	}
	if h.CacheDir != "" {
		if err := bind(h.CacheDir, filepath.Join(nr, workerproto.CacheDir), true); err != nil {
			return fmt.Errorf("compile cache: %w", err)
		}
	}
	old := filepath.Join(nr, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(nr, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	return remountReadOnly("/")
}

// bind mounts src at dst (not recursively: a job dir's mounts arrive by
// propagation), read-only if ro.
func bind(src, dst string, ro bool) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	if ro {
		return remountReadOnly(dst)
	}
	return nil
}

// remountReadOnly keeps the flags a user namespace may not clear (the
// mount's locked nosuid/nodev/noexec/atime flags) and adds rdonly.
func remountReadOnly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	if err := unix.Mount("", path, "", flags, ""); err != nil {
		return fmt.Errorf("remount %s read-only: %w", path, err)
	}
	return nil
}
