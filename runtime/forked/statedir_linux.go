package forked

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// sweep removes what a previous daemon's workers left: their job dirs with
// the bind mounts of rootfs, mounts and fifos (which would pin the
// containers' overlay mounts), and their root mount points. Those workers
// are gone: a worker ends when its daemon connection drops.
func (r *Runtime) sweep() error {
	// The job dir's own (shared) mount stays.
	if err := unmountBelow(r.jobsDir, false); err != nil {
		return err
	}
	for _, d := range []string{r.jobsDir, r.rootsDir} {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(d, e.Name())); err != nil {
				return fmt.Errorf("remove stale %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// RemoveState removes a runtime's state dir once its owner is gone: every
// mount below it (the job dirs' binds, the shared jobs mount), deepest
// first, then the files. Workers of that runtime are gone: a worker ends
// when its parent's connection drops.
func RemoveState(stateDir string) error {
	if err := unmountBelow(stateDir, true); err != nil {
		return err
	}
	if err := os.RemoveAll(stateDir); err != nil {
		return fmt.Errorf("remove %s: %w", stateDir, err)
	}
	return nil
}

// unmountBelow detaches every mount below dir, deepest first, and dir's own
// when self is set.
func unmountBelow(dir string, self bool) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return err
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		if m.Mountpoint == dir && !self {
			continue
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", m.Mountpoint, err)
		}
	}
	return nil
}
