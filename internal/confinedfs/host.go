//go:build linux

package confinedfs

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

// Open opens the regular file at guestPath read-only for the host, resolving
// it inside the root exactly as the guest would (symlinks followed inside the
// root, magic links refused). Directories and other non-regular files are
// refused; a FIFO is refused without blocking. The returned file's Name is
// the root joined with the cleaned guest path, for messages only.
func (f *FS) Open(guestPath string) (*os.File, error) {
	root, errno := f.acquire()
	if errno != 0 {
		return nil, fmt.Errorf("confinedfs: open %q: root %s: %w", guestPath, f.root, fs.ErrClosed)
	}
	// O_NONBLOCK so that opening a FIFO does not wait for a writer.
	fd, err := openat2(root, clean(guestPath), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("confinedfs: open %q in root %s: %w", guestPath, f.root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("confinedfs: stat %q in root %s: %w", guestPath, f.root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("confinedfs: open %q in root %s: not a regular file (%s)", guestPath, f.root, describeMode(fileType(st.Mode)))
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("confinedfs: open %q in root %s: %w", guestPath, f.root, err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(f.root, path.Clean("/"+guestPath))), nil
}

// describeMode names the type of a non-regular file for error messages.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular file"
}

// LookPath finds the module to run the way runwasi does and returns its
// cleaned, absolute guest path. If arg0 contains a "/" it is the only
// candidate: taken as is when absolute, otherwise relative to cwd. Otherwise
// arg0 is looked up in each entry of the colon-separated pathEnv in order
// (relative and empty entries are relative to cwd), then in cwd. An empty
// cwd means "/". The first candidate that is a regular file inside the root
// (symlinks followed inside the root) wins.
//
// When nothing is found the error names arg0 and every candidate tried, with
// the reason it was rejected, and wraps [fs.ErrNotExist].
func (f *FS) LookPath(arg0, cwd, pathEnv string) (string, error) {
	if arg0 == "" {
		return "", fmt.Errorf("confinedfs: look up module: empty argv[0]: %w", fs.ErrNotExist)
	}
	guestAbs := func(p string) string {
		if path.IsAbs(p) {
			return path.Clean(p)
		}
		return path.Join("/", cwd, p)
	}
	var candidates []string
	if strings.Contains(arg0, "/") {
		candidates = []string{guestAbs(arg0)}
	} else {
		if pathEnv != "" {
			for _, dir := range strings.Split(pathEnv, ":") {
				candidates = append(candidates, guestAbs(path.Join(dir, arg0)))
			}
		}
		candidates = append(candidates, guestAbs(arg0))
	}

	tried := make([]string, 0, len(candidates))
	seen := make(map[string]bool, len(candidates))
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		st, errno := f.Stat(c)
		switch {
		case errno == 0 && st.Mode.IsRegular():
			return c, nil
		case errno == experimentalsys.EBADF: // only when f is closed
			return "", fmt.Errorf("confinedfs: look up %q: root %s: %w", arg0, f.root, fs.ErrClosed)
		case errno != 0:
			tried = append(tried, fmt.Sprintf("%s (%v)", c, errno))
		default:
			tried = append(tried, fmt.Sprintf("%s (%s, not a regular file)", c, describeMode(st.Mode)))
		}
	}
	how := "as given"
	if !strings.Contains(arg0, "/") {
		how = fmt.Sprintf("in PATH %q then cwd %q", pathEnv, guestAbs("."))
	}
	return "", fmt.Errorf("confinedfs: module %q not found %s under root %s; tried %s: %w",
		arg0, how, f.root, strings.Join(tried, ", "), fs.ErrNotExist)
}
