//go:build linux

package confinedfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
)

const passwd = "in-root-passwd"

// fixture is a temporary directory holding a rootfs and, next to it, a
// secret file the rootfs must never reach:
//
//	<tmp>/outside/secret
//	<tmp>/rootfs/{etc/passwd, hello.txt, dir/sub/file.txt, symlinks...}
type fixture struct {
	tmp, root string
	secret    string // content of <tmp>/outside/secret
	secretDir string // <tmp>/outside
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tmp := t.TempDir()
	fx := &fixture{
		tmp:       tmp,
		root:      filepath.Join(tmp, "rootfs"),
		secret:    "TOP-SECRET-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		secretDir: filepath.Join(tmp, "outside"),
	}
	writeFile(t, filepath.Join(fx.secretDir, "secret"), fx.secret)
	writeFile(t, filepath.Join(fx.root, "etc", "passwd"), passwd)
	writeFile(t, filepath.Join(fx.root, "hello.txt"), "hello")
	writeFile(t, filepath.Join(fx.root, "dir", "sub", "file.txt"), "nested")
	for link, target := range map[string]string{
		"abs":           "/etc",                                  // absolute symlink
		"absfile":       "/etc/passwd",                           // absolute symlink to a file
		"rel":           "../../../../etc",                       // relative symlink climbing out
		"loop1":         "loop2",                                 // symlink loop
		"loop2":         "loop1",                                 //
		"proc":          "/proc/self/root",                       // a magic link on the host; in the root it names itself
		"dotdot":        "..",                                    // ".." of the root is the root
		"outsideabs":    filepath.Join(tmp, "outside", "secret"), // host absolute path
		"outsidedirabs": filepath.Join(tmp, "outside"),
		"outsiderel":    "../outside/secret",
		"outsidedir":    "../outside",
		"dir/sub/deep":  "../../../../../../outside/secret",
	} {
		if err := os.Symlink(target, filepath.Join(fx.root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// escapeAttempts maps guest paths to the content they must read: passwd
// (the rootfs copy) or "" when they must fail. None may read the secret.
func (fx *fixture) escapeAttempts() map[string]string {
	return map[string]string{
		"abs/passwd":                      passwd,
		"/abs/passwd":                     passwd,
		"rel/passwd":                      passwd,
		"absfile":                         passwd,
		"dotdot/etc/passwd":               passwd,
		"dotdot/dotdot/abs/passwd":        passwd,
		"../etc/passwd":                   passwd,
		"../../../etc/passwd":             passwd,
		"../outside/secret":               "",
		"/../outside/secret":              "",
		"../../outside/secret":            "",
		"abs/../../outside/secret":        "",
		"dotdot/../outside/secret":        "",
		"rel/../../outside/secret":        "",
		"outsideabs":                      "",
		"outsiderel":                      "",
		"outsidedir/secret":               "",
		"outsidedirabs/secret":            "",
		"dir/sub/deep":                    "",
		"proc/etc/passwd":                 "",
		"proc" + fx.secretDir + "/secret": "",
		fx.secretDir + "/secret":          "",
		"loop1":                           "",
		"loop2/x":                         "",
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readHost(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustNew(t *testing.T, root string, opts ...confinedfs.Option) *confinedfs.FS {
	t.Helper()
	fsys, err := confinedfs.New(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fsys.Close() })
	return fsys
}

func wantErrno(t *testing.T, what string, got, want experimentalsys.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s: errno = %v (%d), want %v (%d)", what, got, got, want, want)
	}
}

func mustOpen(t *testing.T, fsys *confinedfs.FS, p string, flag experimentalsys.Oflag) experimentalsys.File {
	t.Helper()
	f, errno := fsys.OpenFile(p, flag, 0o644)
	if errno != 0 {
		t.Fatalf("OpenFile(%q, %#x): %v", p, flag, errno)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// readAll reads f until Read returns 0 bytes.
func readAll(t *testing.T, f experimentalsys.File) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 3) // small to exercise repeated reads
	for {
		n, errno := f.Read(buf)
		if errno != 0 {
			t.Fatalf("Read: %v", errno)
		}
		if n == 0 {
			return sb.String()
		}
		sb.Write(buf[:n])
	}
}

func TestNew(t *testing.T) {
	fx := newFixture(t)
	if _, err := confinedfs.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
	if _, err := confinedfs.New(filepath.Join(fx.tmp, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New(missing) = %v, want ErrNotExist", err)
	}
	if _, err := confinedfs.New(filepath.Join(fx.root, "hello.txt")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("New(file) = %v, want ENOTDIR", err)
	}

	// A relative root is made absolute.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, fx.root)
	if err != nil {
		t.Fatal(err)
	}
	fsys := mustNew(t, rel)
	if got := fsys.String(); got != fx.root {
		t.Errorf("String() = %q, want %q", got, fx.root)
	}

	// Close releases the root: later operations fail, Close is idempotent,
	// and files opened before stay usable.
	f := mustOpen(t, fsys, "hello.txt", experimentalsys.O_RDONLY)
	if err := fsys.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := readAll(t, f); got != "hello" {
		t.Errorf("read after FS.Close = %q", got)
	}
	_, errno := fsys.Stat("hello.txt")
	wantErrno(t, "Stat after Close", errno, experimentalsys.EBADF)
	_, errno = fsys.OpenFile("hello.txt", experimentalsys.O_RDONLY, 0)
	wantErrno(t, "OpenFile after Close", errno, experimentalsys.EBADF)
	wantErrno(t, "Mkdir after Close", fsys.Mkdir("x", 0o755), experimentalsys.EBADF)
	if _, err := fsys.Open("hello.txt"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Open after Close = %v, want ErrClosed", err)
	}
	if _, err := fsys.LookPath("hello.txt", "/", ""); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("LookPath after Close = %v, want ErrClosed", err)
	}
}

func TestEscapeAttempts(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)

	for p, want := range fx.escapeAttempts() {
		t.Run(strings.ReplaceAll(p, "/", "|"), func(t *testing.T) {
			// Through the guest interface.
			f, errno := fsys.OpenFile(p, experimentalsys.O_RDONLY, 0)
			switch {
			case errno != 0 && want != "":
				t.Errorf("OpenFile: %v, want content %q", errno, want)
			case errno == 0:
				got := readAll(t, f)
				_ = f.Close()
				if got == fx.secret {
					t.Fatalf("OpenFile read the secret outside the root")
				}
				if got != want {
					t.Errorf("OpenFile read %q, want %q", got, want)
				}
			}
			if st, errno := fsys.Stat(p); (errno == 0) != (want != "") {
				t.Errorf("Stat: %v, want success %v", errno, want != "")
			} else if errno == 0 && st.Size != int64(len(want)) {
				t.Errorf("Stat size %d, want %d", st.Size, len(want))
			}

			// Through the host interface.
			hf, err := fsys.Open(p)
			switch {
			case err != nil && want != "":
				t.Errorf("Open: %v, want content %q", err, want)
			case err == nil:
				b, err := io.ReadAll(hf)
				_ = hf.Close()
				if err != nil {
					t.Fatal(err)
				}
				if string(b) == fx.secret {
					t.Fatalf("Open read the secret outside the root")
				}
				if string(b) != want {
					t.Errorf("Open read %q, want %q", b, want)
				}
			}
		})
	}

	// The loop is reported as such.
	_, errno := fsys.OpenFile("loop1", experimentalsys.O_RDONLY, 0)
	wantErrno(t, "OpenFile(loop1)", errno, experimentalsys.ELOOP)
	// Lstat and Readlink see the links themselves, which are inside the root.
	st, errno := fsys.Lstat("outsideabs")
	if errno != 0 || st.Mode&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(outsideabs) = %v, %v; want a symlink", st.Mode, errno)
	}
	if target, errno := fsys.Readlink("outsiderel"); errno != 0 || target != "../outside/secret" {
		t.Errorf("Readlink(outsiderel) = %q, %v", target, errno)
	}
	// Directories reached through links are the rootfs ones.
	d := mustOpen(t, fsys, "dotdot/dotdot/abs", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY)
	if names := readdirNames(t, d, -1); !slices.Equal(names, []string{"passwd"}) {
		t.Errorf("readdir(abs) = %v, want [passwd]", names)
	}
}

// TestMutationsStayInside tries to create, modify or remove host files
// outside the root through every mutating operation.
func TestMutationsStayInside(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	secretPath := filepath.Join(fx.secretDir, "secret")
	before, err := os.Lstat(secretPath)
	if err != nil {
		t.Fatal(err)
	}

	for _, dir := range []string{"outsidedir", "outsidedirabs", "../outside", "dotdot/../outside"} {
		_, errno := fsys.OpenFile(dir+"/pwned", experimentalsys.O_CREAT|experimentalsys.O_WRONLY, 0o644)
		wantErrno(t, "create "+dir+"/pwned", errno, experimentalsys.ENOENT)
		wantErrno(t, "Mkdir "+dir+"/pwned", fsys.Mkdir(dir+"/pwned", 0o755), experimentalsys.ENOENT)
		wantErrno(t, "Symlink "+dir+"/pwned", fsys.Symlink("x", dir+"/pwned"), experimentalsys.ENOENT)
		wantErrno(t, "Link "+dir+"/pwned", fsys.Link("hello.txt", dir+"/pwned"), experimentalsys.ENOENT)
		wantErrno(t, "Rename to "+dir+"/pwned", fsys.Rename("hello.txt", dir+"/pwned"), experimentalsys.ENOENT)
		wantErrno(t, "Rename from "+dir+"/secret", fsys.Rename(dir+"/secret", "stolen"), experimentalsys.ENOENT)
		wantErrno(t, "Link from "+dir+"/secret", fsys.Link(dir+"/secret", "stolen"), experimentalsys.ENOENT)
		wantErrno(t, "Unlink "+dir+"/secret", fsys.Unlink(dir+"/secret"), experimentalsys.ENOENT)
		if errno := fsys.Rmdir(dir + "/"); errno == 0 {
			t.Errorf("Rmdir %s/ succeeded", dir)
		}
	}
	for p, want := range map[string]experimentalsys.Errno{
		"outsideabs":   experimentalsys.ENOENT,
		"outsiderel":   experimentalsys.ENOENT,
		"dir/sub/deep": experimentalsys.ENOENT,
		"proc":         experimentalsys.ELOOP, // /proc in the root is this link
	} {
		wantErrno(t, "Chmod "+p, fsys.Chmod(p, 0o777), want)
		wantErrno(t, "Utimens "+p, fsys.Utimens(p, 0, 0), want)
		_, errno := fsys.OpenFile(p, experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, 0)
		wantErrno(t, "truncate "+p, errno, want)
	}
	// O_CREAT through a dangling absolute symlink creates inside the root.
	if err := os.MkdirAll(filepath.Join(fx.root, fx.secretDir), 0o755); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, fsys, "outsideabs", experimentalsys.O_CREAT|experimentalsys.O_WRONLY)
	if _, errno := f.Write([]byte("mine")); errno != 0 {
		t.Fatal(errno)
	}
	if got := readHost(t, filepath.Join(fx.root, fx.secretDir, "secret")); got != "mine" {
		t.Errorf("O_CREAT through symlink wrote %q inside the root", got)
	}
	// A hard link to a symlink links the symlink itself, still confined.
	wantErrno(t, "Link(outsiderel)", fsys.Link("outsiderel", "hardlink"), 0)
	if _, errno := fsys.OpenFile("hardlink", experimentalsys.O_RDONLY, 0); errno != experimentalsys.ENOENT {
		t.Errorf("open hardlink to outsiderel: %v, want ENOENT", errno)
	}
	// Unlinking or renaming a symlink acts on the link, not its target.
	wantErrno(t, "Unlink(outsideabs)", fsys.Unlink("outsideabs"), 0)
	wantErrno(t, "Rename(outsiderel)", fsys.Rename("outsiderel", "renamed"), 0)
	// Mkdir through an absolute symlink to a directory lands in the root.
	wantErrno(t, "Mkdir(abs/new)", fsys.Mkdir("abs/new", 0o755), 0)
	if _, err := os.Stat(filepath.Join(fx.root, "etc", "new")); err != nil {
		t.Error(err)
	}

	after, err := os.Lstat(secretPath)
	if err != nil {
		t.Fatalf("secret gone: %v", err)
	}
	if after.Mode() != before.Mode() || !after.ModTime().Equal(before.ModTime()) || readHost(t, secretPath) != fx.secret {
		t.Error("secret was modified")
	}
	entries, err := os.ReadDir(fx.secretDir)
	if err != nil || len(entries) != 1 {
		t.Errorf("outside dir now holds %v (%v)", entries, err)
	}
	if _, err := os.Stat("/etc/new"); err == nil {
		t.Error("/etc/new exists on the host")
	}
}

// TestMagicLinks checks that procfs magic links are refused even when
// reachable inside the root.
func TestMagicLinks(t *testing.T) {
	t.Run("root in procfs", testMagicLinksProcRoot)
	t.Run("procfs bind-mounted in rootfs", testMagicLinksBindMount)
}

func testMagicLinksProcRoot(t *testing.T) {
	// Every path below /proc/self is reachable, but "root", "cwd", "exe"
	// and "fd/N" are magic links.
	fsys := mustNew(t, "/proc/self")
	for _, p := range []string{"root/etc/passwd", "root", "cwd", "exe", "fd/0", "task/../root"} {
		_, errno := fsys.Stat(p)
		wantErrno(t, "Stat("+p+")", errno, experimentalsys.ELOOP)
		if _, err := fsys.Open(p); !errors.Is(err, syscall.ELOOP) {
			t.Errorf("Open(%q) = %v, want ELOOP", p, err)
		}
	}
	if _, errno := fsys.Stat("status"); errno != 0 {
		t.Errorf("Stat(status): %v", errno)
	}

}

// testMagicLinksBindMount: the mount is crossed (bind mounts inside the
// rootfs are legitimate), the magic links are not.
func testMagicLinksBindMount(t *testing.T) {
	fx := newFixture(t)
	mnt := filepath.Join(fx.root, "hostproc")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("/proc", mnt, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount /proc (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	if err := os.Symlink("/hostproc/self/root", filepath.Join(fx.root, "magic")); err != nil {
		t.Fatal(err)
	}
	fsys := mustNew(t, fx.root)
	for _, p := range []string{"magic/etc/passwd", "hostproc/self/root/etc/passwd", "hostproc/self/cwd", "hostproc/self/fd/0"} {
		if f, errno := fsys.OpenFile(p, experimentalsys.O_RDONLY, 0); errno != experimentalsys.ELOOP {
			if errno == 0 {
				_ = f.Close()
			}
			t.Errorf("OpenFile(%q): %v, want ELOOP", p, errno)
		}
	}
	if _, errno := fsys.Stat("hostproc/self/status"); errno != 0 {
		t.Errorf("Stat through bind mount: %v", errno)
	}
}

func TestFileReadWrite(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)

	f := mustOpen(t, fsys, "dir/new.txt", experimentalsys.O_CREAT|experimentalsys.O_RDWR|experimentalsys.O_TRUNC)
	if n, errno := f.Write([]byte("hello world")); n != 11 || errno != 0 {
		t.Fatalf("Write = %d, %v", n, errno)
	}
	if off, errno := f.Seek(0, io.SeekCurrent); off != 11 || errno != 0 {
		t.Errorf("Seek(0, current) = %d, %v", off, errno)
	}
	if off, errno := f.Seek(0, io.SeekStart); off != 0 || errno != 0 {
		t.Errorf("Seek(0, start) = %d, %v", off, errno)
	}
	if got := readAll(t, f); got != "hello world" {
		t.Errorf("Read = %q", got)
	}
	if off, errno := f.Seek(-5, io.SeekEnd); off != 6 || errno != 0 {
		t.Errorf("Seek(-5, end) = %d, %v", off, errno)
	}
	_, errno := f.Seek(-1, io.SeekStart)
	wantErrno(t, "Seek(-1)", errno, experimentalsys.EINVAL)
	_, errno = f.Seek(0, 3)
	wantErrno(t, "Seek(whence 3)", errno, experimentalsys.EINVAL)

	buf := make([]byte, 5)
	if n, errno := f.Pread(buf, 6); n != 5 || errno != 0 || string(buf) != "world" {
		t.Errorf("Pread = %d, %v, %q", n, errno, buf)
	}
	_, errno = f.Pread(buf, -1)
	wantErrno(t, "Pread(-1)", errno, experimentalsys.EINVAL)
	if n, errno := f.Pwrite([]byte("W"), 6); n != 1 || errno != 0 {
		t.Errorf("Pwrite = %d, %v", n, errno)
	}
	if n, errno := f.Read(buf); n != 5 || errno != 0 || string(buf) != "World" {
		t.Errorf("Read after Pwrite = %d, %v, %q (offset must not move)", n, errno, buf)
	}
	if n, errno := f.Read(buf); n != 0 || errno != 0 {
		t.Errorf("Read at EOF = %d, %v", n, errno)
	}

	st, errno := f.Stat()
	if errno != 0 || st.Size != 11 || !st.Mode.IsRegular() || st.Mode.Perm() != 0o644&^umask() {
		t.Errorf("Stat = %+v, %v", st, errno)
	}
	if dev, _ := f.Dev(); dev != st.Dev {
		t.Errorf("Dev = %d, want %d", dev, st.Dev)
	}
	if ino, _ := f.Ino(); ino != st.Ino || ino == 0 {
		t.Errorf("Ino = %d, want %d", ino, st.Ino)
	}
	if isDir, _ := f.IsDir(); isDir {
		t.Error("IsDir on a file")
	}
	if host, err := os.Stat(filepath.Join(fx.root, "dir", "new.txt")); err != nil || host.Sys().(*syscall.Stat_t).Ino != st.Ino {
		t.Errorf("host stat: %v", err)
	}

	wantErrno(t, "Truncate(5)", f.Truncate(5), 0)
	wantErrno(t, "Truncate(-1)", f.Truncate(-1), experimentalsys.EINVAL)
	wantErrno(t, "Sync", f.Sync(), 0)
	wantErrno(t, "Datasync", f.Datasync(), 0)
	if got := readHost(t, filepath.Join(fx.root, "dir", "new.txt")); got != "hello" {
		t.Errorf("host content = %q", got)
	}

	wantErrno(t, "Close", f.Close(), 0)
	wantErrno(t, "second Close", f.Close(), 0)
	_, errno = f.Read(buf)
	wantErrno(t, "Read after Close", errno, experimentalsys.EBADF)
	_, errno = f.Write(buf)
	wantErrno(t, "Write after Close", errno, experimentalsys.EBADF)
	_, errno = f.Stat()
	wantErrno(t, "Stat after Close", errno, experimentalsys.EBADF)
	_, errno = f.Seek(0, io.SeekStart)
	wantErrno(t, "Seek after Close", errno, experimentalsys.EBADF)

	// Access modes are enforced.
	ro := mustOpen(t, fsys, "hello.txt", experimentalsys.O_RDONLY)
	_, errno = ro.Write([]byte("x"))
	wantErrno(t, "Write on O_RDONLY", errno, experimentalsys.EBADF)
	wo := mustOpen(t, fsys, "hello.txt", experimentalsys.O_WRONLY)
	_, errno = wo.Read(buf)
	wantErrno(t, "Read on O_WRONLY", errno, experimentalsys.EBADF)

	// O_EXCL, O_CREAT and O_DIRECTORY.
	_, errno = fsys.OpenFile("hello.txt", experimentalsys.O_CREAT|experimentalsys.O_EXCL|experimentalsys.O_WRONLY, 0o644)
	wantErrno(t, "O_EXCL on existing", errno, experimentalsys.EEXIST)
	_, errno = fsys.OpenFile("missing", experimentalsys.O_RDONLY, 0)
	wantErrno(t, "open missing", errno, experimentalsys.ENOENT)
	_, errno = fsys.OpenFile("hello.txt", experimentalsys.O_DIRECTORY, 0)
	wantErrno(t, "O_DIRECTORY on file", errno, experimentalsys.ENOTDIR)
	_, errno = fsys.OpenFile("dir", experimentalsys.O_RDWR, 0)
	wantErrno(t, "dir O_RDWR", errno, experimentalsys.EISDIR)
	_, errno = fsys.OpenFile("absfile", experimentalsys.O_RDONLY|experimentalsys.O_NOFOLLOW, 0)
	wantErrno(t, "O_NOFOLLOW on symlink", errno, experimentalsys.ELOOP)

	// Directories refuse file operations.
	d := mustOpen(t, fsys, "dir", experimentalsys.O_RDONLY)
	if isDir, _ := d.IsDir(); !isDir {
		t.Error("IsDir on a directory is false")
	}
	_, errno = d.Read(buf)
	wantErrno(t, "Read dir", errno, experimentalsys.EISDIR)
	_, errno = d.Pread(buf, 0)
	wantErrno(t, "Pread dir", errno, experimentalsys.EISDIR)
	_, errno = d.Write(buf)
	wantErrno(t, "Write dir", errno, experimentalsys.EISDIR)
	_, errno = d.Pwrite(buf, 0)
	wantErrno(t, "Pwrite dir", errno, experimentalsys.EISDIR)
	wantErrno(t, "Truncate dir", d.Truncate(0), experimentalsys.EISDIR)
	_, errno = d.Seek(1, io.SeekStart)
	wantErrno(t, "Seek(1) dir", errno, experimentalsys.EISDIR)
	_, errno = ro.Readdir(-1)
	wantErrno(t, "Readdir file", errno, experimentalsys.EBADF)
}

func umask() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}

func TestAppend(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	host := filepath.Join(fx.root, "hello.txt")

	f := mustOpen(t, fsys, "hello.txt", experimentalsys.O_WRONLY|experimentalsys.O_APPEND)
	if !f.IsAppend() {
		t.Error("IsAppend false after O_APPEND")
	}
	if _, errno := f.Write([]byte(" world")); errno != 0 {
		t.Fatal(errno)
	}
	if got := readHost(t, host); got != "hello world" {
		t.Errorf("after append: %q", got)
	}
	// Issue 17: pwrite in append mode fails and writes nothing, as in
	// wazero's own files.
	if n, errno := f.Pwrite([]byte("J"), 0); n != 0 || errno != experimentalsys.EIO {
		t.Errorf("Pwrite in append mode = %d, %v; want 0, EIO", n, errno)
	}
	if got := readHost(t, host); got != "hello world" {
		t.Errorf("after Pwrite in append mode: %q", got)
	}
	wantErrno(t, "SetAppend(false)", f.SetAppend(false), 0)
	if f.IsAppend() {
		t.Error("IsAppend true after SetAppend(false)")
	}
	if _, errno := f.Pwrite([]byte("J"), 0); errno != 0 {
		t.Fatal(errno)
	}
	if got := readHost(t, host); got != "Jello world" {
		t.Errorf("after Pwrite without append: %q", got)
	}
	wantErrno(t, "SetAppend(true)", f.SetAppend(true), 0)
	if _, errno := f.Write([]byte("!")); errno != 0 {
		t.Fatal(errno)
	}
	if got := readHost(t, host); got != "Jello world!" {
		t.Errorf("after SetAppend(true): %q", got)
	}
}

func readdirNames(t *testing.T, d experimentalsys.File, n int) []string {
	t.Helper()
	dirents, errno := d.Readdir(n)
	if errno != 0 {
		t.Fatalf("Readdir(%d): %v", n, errno)
	}
	names := make([]string, 0, len(dirents))
	for _, e := range dirents {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names
}

func TestReaddir(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	for i := range 5 {
		writeFile(t, filepath.Join(fx.root, "list", "f"+strconv.Itoa(i)), "")
	}
	if err := os.Mkdir(filepath.Join(fx.root, "list", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(fx.root, "list", "link")); err != nil {
		t.Fatal(err)
	}
	want := []string{"f0", "f1", "f2", "f3", "f4", "link", "sub"}

	d := mustOpen(t, fsys, "list", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY)
	var got []string
	for {
		dirents, errno := d.Readdir(3)
		if errno != 0 {
			t.Fatal(errno)
		}
		for _, e := range dirents {
			got = append(got, e.Name)
			host, err := os.Lstat(filepath.Join(fx.root, "list", e.Name))
			if err != nil {
				t.Fatal(err)
			}
			if e.Ino != host.Sys().(*syscall.Stat_t).Ino || e.Type != host.Mode().Type() {
				t.Errorf("dirent %v, host ino %d type %v", e.String(), host.Sys().(*syscall.Stat_t).Ino, host.Mode().Type())
			}
		}
		if len(dirents) < 3 {
			break
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Readdir(3)... = %v, want %v", got, want)
	}
	if names := readdirNames(t, d, -1); len(names) != 0 {
		t.Errorf("Readdir at end = %v", names)
	}

	// Rewinding shows entries added meanwhile.
	writeFile(t, filepath.Join(fx.root, "list", "late"), "")
	if _, errno := d.Seek(0, io.SeekStart); errno != 0 {
		t.Fatal(errno)
	}
	want = append(want, "late")
	slices.Sort(want)
	if names := readdirNames(t, d, 0); !slices.Equal(names, want) {
		t.Errorf("Readdir after rewind = %v, want %v", names, want)
	}

	// The root lists the rootfs.
	r := mustOpen(t, fsys, ".", experimentalsys.O_RDONLY)
	if names := readdirNames(t, r, -1); !slices.Contains(names, "hello.txt") || slices.Contains(names, ".") || slices.Contains(names, "..") {
		t.Errorf("Readdir(.) = %v", names)
	}
	rst, _ := r.Stat()
	if ino, _ := r.Ino(); ino != rst.Ino {
		t.Errorf("root Ino %d, Stat %d", ino, rst.Ino)
	}
}

func TestNamespaceOps(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	exists := func(p string) bool {
		_, err := os.Lstat(filepath.Join(fx.root, p))
		return err == nil
	}

	// Mkdir
	wantErrno(t, "Mkdir", fsys.Mkdir("a", 0o750), 0)
	if st, errno := fsys.Stat("a"); errno != 0 || !st.Mode.IsDir() || st.Mode.Perm() != 0o750&^umask() {
		t.Errorf("Stat(a) = %v, %v", st.Mode, errno)
	}
	wantErrno(t, "Mkdir existing", fsys.Mkdir("a", 0o755), experimentalsys.EEXIST)
	wantErrno(t, "Mkdir trailing slash", fsys.Mkdir("a/b/", 0o755), 0)
	wantErrno(t, "Mkdir missing parent", fsys.Mkdir("missing/x", 0o755), experimentalsys.ENOENT)
	wantErrno(t, "Mkdir under file", fsys.Mkdir("hello.txt/x", 0o755), experimentalsys.ENOENT)
	wantErrno(t, "Mkdir .", fsys.Mkdir(".", 0o755), experimentalsys.EEXIST)
	wantErrno(t, "Mkdir /", fsys.Mkdir("/", 0o755), experimentalsys.EEXIST)
	wantErrno(t, "Mkdir a/..", fsys.Mkdir("a/..", 0o755), experimentalsys.EEXIST)
	wantErrno(t, "Mkdir over symlink", fsys.Mkdir("abs", 0o755), experimentalsys.EEXIST)

	// Rename
	wantErrno(t, "Rename file", fsys.Rename("hello.txt", "a/hi.txt"), 0)
	if exists("hello.txt") || !exists("a/hi.txt") {
		t.Error("Rename did not move the file")
	}
	wantErrno(t, "Rename dir", fsys.Rename("a/b", "/c"), 0)
	if !exists("c") {
		t.Error("Rename did not move the dir")
	}
	wantErrno(t, "Rename file over dir", fsys.Rename("a/hi.txt", "c"), experimentalsys.EISDIR)
	wantErrno(t, "Rename dir over file", fsys.Rename("c", "a/hi.txt"), experimentalsys.ENOTDIR)
	wantErrno(t, "Rename missing", fsys.Rename("missing", "x"), experimentalsys.ENOENT)
	wantErrno(t, "Rename file with slash", fsys.Rename("a/hi.txt/", "x"), experimentalsys.ENOTDIR)
	wantErrno(t, "Rename to file with slash", fsys.Rename("a/hi.txt", "x/"), experimentalsys.ENOTDIR)
	wantErrno(t, "Rename dir with slash", fsys.Rename("c/", "d/"), 0)
	wantErrno(t, "Rename .", fsys.Rename(".", "x"), experimentalsys.EINVAL)
	wantErrno(t, "Rename same", fsys.Rename("d", "d"), 0)

	// Unlink and Rmdir
	writeFile(t, filepath.Join(fx.root, "d", "f"), "x")
	wantErrno(t, "Rmdir non-empty", fsys.Rmdir("d"), experimentalsys.ENOTEMPTY)
	wantErrno(t, "Rmdir file", fsys.Rmdir("d/f"), experimentalsys.ENOTDIR)
	wantErrno(t, "Unlink dir", fsys.Unlink("d"), experimentalsys.EISDIR)
	wantErrno(t, "Unlink dir/", fsys.Unlink("d/"), experimentalsys.EISDIR)
	wantErrno(t, "Unlink file/", fsys.Unlink("d/f/"), experimentalsys.ENOTDIR)
	wantErrno(t, "Unlink missing", fsys.Unlink("d/missing"), experimentalsys.ENOENT)
	wantErrno(t, "Unlink .", fsys.Unlink("."), experimentalsys.EISDIR)
	wantErrno(t, "Unlink file", fsys.Unlink("d/f"), 0)
	wantErrno(t, "Rmdir .", fsys.Rmdir("."), experimentalsys.EINVAL)
	wantErrno(t, "Rmdir /", fsys.Rmdir("/"), experimentalsys.EINVAL)
	wantErrno(t, "Rmdir symlink to dir", fsys.Rmdir("abs/"), experimentalsys.ENOTDIR)
	wantErrno(t, "Rmdir empty", fsys.Rmdir("d/"), 0)
	if exists("d") {
		t.Error("Rmdir did not remove")
	}

	// Symlink, Readlink, Lstat
	wantErrno(t, "Symlink absolute", fsys.Symlink("/a/hi.txt", "ln"), experimentalsys.EPERM)
	wantErrno(t, "Symlink", fsys.Symlink("a/hi.txt", "ln"), 0)
	if target, errno := fsys.Readlink("ln"); errno != 0 || target != "a/hi.txt" {
		t.Errorf("Readlink = %q, %v", target, errno)
	}
	long := strings.Repeat("x", 1000)
	wantErrno(t, "Symlink long", fsys.Symlink(long, "long"), 0)
	if target, errno := fsys.Readlink("long"); errno != 0 || target != long {
		t.Errorf("Readlink(long) = %d bytes, %v", len(target), errno)
	}
	wantErrno(t, "Symlink existing", fsys.Symlink("x", "ln"), experimentalsys.EEXIST)
	wantErrno(t, "Symlink slash missing", fsys.Symlink("x", "nope/"), experimentalsys.ENOENT)
	wantErrno(t, "Symlink slash existing", fsys.Symlink("x", "ln/"), experimentalsys.EEXIST)
	wantErrno(t, "Symlink .", fsys.Symlink("x", "."), experimentalsys.EEXIST)
	_, errno := fsys.Readlink("a/hi.txt")
	wantErrno(t, "Readlink file", errno, experimentalsys.EINVAL)
	_, errno = fsys.Readlink(".")
	wantErrno(t, "Readlink .", errno, experimentalsys.EINVAL)
	lst, errno := fsys.Lstat("ln")
	if errno != 0 || lst.Mode.Type() != fs.ModeSymlink || lst.Size != int64(len("a/hi.txt")) {
		t.Errorf("Lstat(ln) = %+v, %v", lst, errno)
	}
	st, errno := fsys.Stat("ln")
	if errno != 0 || !st.Mode.IsRegular() || st.Size != 5 {
		t.Errorf("Stat(ln) = %+v, %v", st, errno)
	}
	if dst, errno := fsys.Lstat("abs/"); errno != 0 || !dst.Mode.IsDir() {
		t.Errorf("Lstat(abs/) = %v, %v; want the directory (trailing slash follows)", dst.Mode, errno)
	}
	_, errno = fsys.Lstat("a/hi.txt/")
	wantErrno(t, "Lstat file/", errno, experimentalsys.ENOTDIR)
	for _, p := range []string{"", ".", "/", "a/..", "dotdot/", "//a/../"} {
		if st, errno := fsys.Lstat(p); errno != 0 || !st.Mode.IsDir() {
			t.Errorf("Lstat(%q) = %v, %v", p, st.Mode, errno)
		}
		if st, errno := fsys.Stat(p); errno != 0 || !st.Mode.IsDir() {
			t.Errorf("Stat(%q) = %v, %v", p, st.Mode, errno)
		}
	}

	// Link
	wantErrno(t, "Link", fsys.Link("a/hi.txt", "hard"), 0)
	hst, errno := fsys.Stat("hard")
	ost, _ := fsys.Stat("a/hi.txt")
	if errno != 0 || hst.Nlink != 2 || hst.Ino != ost.Ino {
		t.Errorf("Stat(hard) = %+v, %v; want Nlink 2 and inode %d", hst, errno, ost.Ino)
	}
	wantErrno(t, "Link existing", fsys.Link("a/hi.txt", "hard"), experimentalsys.EEXIST)
	wantErrno(t, "Link dir", fsys.Link("a", "adir"), experimentalsys.EPERM)
	wantErrno(t, "Link .", fsys.Link(".", "x"), experimentalsys.EPERM)
	wantErrno(t, "Link missing", fsys.Link("missing", "x"), experimentalsys.ENOENT)
	wantErrno(t, "Link file/", fsys.Link("a/hi.txt/", "x"), experimentalsys.ENOTDIR)

	// Paths with a NUL byte are invalid.
	_, errno = fsys.Stat("a\x00b")
	wantErrno(t, "Stat with NUL", errno, experimentalsys.EINVAL)
}

func TestTimesAndMode(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	const sec = int64(time.Second)

	wantErrno(t, "Utimens", fsys.Utimens("hello.txt", 100*sec+1, 200*sec+2), 0)
	st, _ := fsys.Stat("hello.txt")
	if st.Atim != 100*sec+1 || st.Mtim != 200*sec+2 {
		t.Errorf("times = %d, %d", st.Atim, st.Mtim)
	}
	wantErrno(t, "Utimens omit atim", fsys.Utimens("hello.txt", experimentalsys.UTIME_OMIT, 300*sec), 0)
	st, _ = fsys.Stat("hello.txt")
	if st.Atim != 100*sec+1 || st.Mtim != 300*sec {
		t.Errorf("times after UTIME_OMIT = %d, %d", st.Atim, st.Mtim)
	}
	// Utimens follows symlinks (inside the root), on files and directories.
	wantErrno(t, "Utimens via symlink", fsys.Utimens("absfile", 5*sec, 6*sec), 0)
	st, _ = fsys.Stat("etc/passwd")
	if st.Mtim != 6*sec {
		t.Errorf("Utimens via symlink: mtim %d", st.Mtim)
	}
	if lst, _ := fsys.Lstat("absfile"); lst.Mtim == 6*sec {
		t.Error("Utimens changed the link itself")
	}
	wantErrno(t, "Utimens dir", fsys.Utimens("dir", 7*sec, 8*sec), 0)
	wantErrno(t, "Utimens missing", fsys.Utimens("missing", 0, 0), experimentalsys.ENOENT)

	f := mustOpen(t, fsys, "hello.txt", experimentalsys.O_RDONLY)
	wantErrno(t, "File.Utimens", f.Utimens(experimentalsys.UTIME_OMIT, 9*sec), 0)
	if st, _ := f.Stat(); st.Mtim != 9*sec {
		t.Errorf("File.Utimens: mtim %d", st.Mtim)
	}

	wantErrno(t, "Chmod", fsys.Chmod("hello.txt", 0o600), 0)
	if st, _ := fsys.Stat("hello.txt"); st.Mode.Perm() != 0o600 {
		t.Errorf("Chmod: mode %v", st.Mode)
	}
	wantErrno(t, "Chmod via symlink", fsys.Chmod("abs", 0o700|fs.ModeSticky), 0)
	if st, _ := fsys.Stat("etc"); st.Mode.Perm() != 0o700 || st.Mode&fs.ModeSticky == 0 {
		t.Errorf("Chmod via symlink: mode %v", st.Mode)
	}
	wantErrno(t, "Chmod missing", fsys.Chmod("missing", 0o600), experimentalsys.ENOENT)
}

func TestNonblockAndPoll(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	if err := unix.Mkfifo(filepath.Join(fx.root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, fsys, "fifo", experimentalsys.O_RDONLY|experimentalsys.O_NONBLOCK)
	w := mustOpen(t, fsys, "fifo", experimentalsys.O_WRONLY)
	pr, ok := r.(experimentalsys.PollableFile)
	if !ok {
		t.Fatal("file does not implement PollableFile")
	}
	if !pr.IsNonblock() {
		t.Error("IsNonblock false after O_NONBLOCK")
	}
	buf := make([]byte, 8)
	_, errno := r.Read(buf)
	wantErrno(t, "Read empty non-blocking FIFO", errno, experimentalsys.EAGAIN)
	if ready, errno := pr.Poll(experimentalsys.POLLIN, 0); ready || errno != 0 {
		t.Errorf("Poll empty = %v, %v", ready, errno)
	}
	_, errno = pr.Poll(experimentalsys.POLLOUT, 0)
	wantErrno(t, "Poll(POLLOUT)", errno, experimentalsys.ENOTSUP)
	if _, errno := w.Write([]byte("ping")); errno != 0 {
		t.Fatal(errno)
	}
	if ready, errno := pr.Poll(experimentalsys.POLLIN, -1); !ready || errno != 0 {
		t.Errorf("Poll after write = %v, %v", ready, errno)
	}
	if n, errno := r.Read(buf); errno != 0 || string(buf[:n]) != "ping" {
		t.Errorf("Read = %q, %v", buf[:n], errno)
	}
	wantErrno(t, "SetNonblock(false)", pr.SetNonblock(false), 0)
	if pr.IsNonblock() {
		t.Error("IsNonblock true after SetNonblock(false)")
	}
	wantErrno(t, "SetNonblock(true)", pr.SetNonblock(true), 0)
	_, errno = r.Read(buf)
	wantErrno(t, "Read after SetNonblock(true)", errno, experimentalsys.EAGAIN)

	// Regular files are always ready.
	f := mustOpen(t, fsys, "hello.txt", experimentalsys.O_RDONLY)
	if ready, errno := f.(experimentalsys.PollableFile).Poll(experimentalsys.POLLIN, 0); !ready || errno != 0 {
		t.Errorf("Poll regular file = %v, %v", ready, errno)
	}
}

func TestReadOnly(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root, confinedfs.ReadOnly())
	rofs := experimentalsys.EROFS

	wantErrno(t, "Mkdir", fsys.Mkdir("x", 0o755), rofs)
	wantErrno(t, "Chmod", fsys.Chmod("hello.txt", 0o777), rofs)
	wantErrno(t, "Rename", fsys.Rename("hello.txt", "x"), rofs)
	wantErrno(t, "Rmdir", fsys.Rmdir("dir/sub"), rofs)
	wantErrno(t, "Unlink", fsys.Unlink("hello.txt"), rofs)
	wantErrno(t, "Link", fsys.Link("hello.txt", "x"), rofs)
	wantErrno(t, "Symlink", fsys.Symlink("hello.txt", "x"), rofs)
	wantErrno(t, "Utimens", fsys.Utimens("hello.txt", 0, 0), rofs)
	for name, flag := range map[string]experimentalsys.Oflag{
		"O_WRONLY":          experimentalsys.O_WRONLY,
		"O_RDWR":            experimentalsys.O_RDWR,
		"O_CREAT":           experimentalsys.O_CREAT,
		"O_TRUNC":           experimentalsys.O_TRUNC,
		"O_WRONLY|O_APPEND": experimentalsys.O_WRONLY | experimentalsys.O_APPEND,
		"new O_CREAT":       experimentalsys.O_CREAT | experimentalsys.O_EXCL | experimentalsys.O_WRONLY,
	} {
		_, errno := fsys.OpenFile("hello.txt", flag, 0o644)
		wantErrno(t, "OpenFile "+name, errno, rofs)
	}
	_, errno := fsys.OpenFile("dir", experimentalsys.O_RDWR|experimentalsys.O_DIRECTORY, 0)
	wantErrno(t, "OpenFile dir for write", errno, experimentalsys.EISDIR)

	// Reads work; the files cannot be written either.
	f := mustOpen(t, fsys, "abs/passwd", experimentalsys.O_RDONLY)
	if got := readAll(t, f); got != passwd {
		t.Errorf("read %q", got)
	}
	_, errno = f.Write([]byte("x"))
	wantErrno(t, "File.Write", errno, experimentalsys.EBADF)
	wantErrno(t, "File.Utimens", f.Utimens(0, 0), rofs)
	if errno := f.Truncate(0); errno == 0 {
		t.Error("File.Truncate succeeded")
	}
	if _, errno := fsys.Lstat("abs"); errno != 0 {
		t.Errorf("Lstat: %v", errno)
	}
	if _, errno := fsys.Readlink("abs"); errno != 0 {
		t.Errorf("Readlink: %v", errno)
	}

	if got := readHost(t, filepath.Join(fx.root, "etc", "passwd")); got != passwd {
		t.Errorf("rootfs modified: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(fx.root, "x")); err == nil {
		t.Error("rootfs modified: x exists")
	}
}

func TestOpen(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)

	f, err := fsys.Open("/abs/passwd")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil || string(b) != passwd {
		t.Errorf("Open(/abs/passwd) read %q, %v", b, err)
	}
	if want := filepath.Join(fx.root, "abs", "passwd"); f.Name() != want {
		t.Errorf("Name() = %q, want %q", f.Name(), want)
	}

	for _, p := range []string{"dir", "/", "abs", "dotdot"} {
		if _, err := fsys.Open(p); err == nil || !strings.Contains(err.Error(), "not a regular file (directory)") || !strings.Contains(err.Error(), strconv.Quote(p)) {
			t.Errorf("Open(%q) = %v, want a not-a-regular-file error", p, err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(fx.root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := fsys.Open("fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file (named pipe)") {
			t.Errorf("Open(fifo) = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open(fifo) blocked")
	}
	if _, err := fsys.Open("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if _, err := fsys.Open("loop1"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Open(loop1) = %v, want ELOOP", err)
	}
}

func TestLookPath(t *testing.T) {
	fx := newFixture(t)
	for _, p := range []string{"bin/tool.wasm", "usr/bin/tool.wasm", "app/app.wasm", "app/sub/rel.wasm", "work/local.wasm"} {
		writeFile(t, filepath.Join(fx.root, p), "\x00asm")
	}
	if err := os.MkdirAll(filepath.Join(fx.root, "usr", "local", "bin", "tool.wasm"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/app/app.wasm", filepath.Join(fx.root, "bin", "linked.wasm")); err != nil {
		t.Fatal(err)
	}
	fsys := mustNew(t, fx.root)

	for _, tc := range []struct {
		name, arg0, cwd, path, want string
	}{
		{"absolute", "/app/app.wasm", "/work", "/bin", "/app/app.wasm"},
		{"absolute unclean", "/app/../app/./app.wasm", "/", "", "/app/app.wasm"},
		{"relative with slash", "sub/rel.wasm", "/app", "/bin", "/app/sub/rel.wasm"},
		{"dot slash", "./local.wasm", "/work", "/bin", "/work/local.wasm"},
		{"relative with slash, empty cwd", "app/app.wasm", "", "", "/app/app.wasm"},
		{"PATH order", "tool.wasm", "/", "/usr/bin:/bin", "/usr/bin/tool.wasm"},
		{"PATH order reversed", "tool.wasm", "/", "/bin:/usr/bin", "/bin/tool.wasm"},
		{"PATH skips directories", "tool.wasm", "/", "/usr/local/bin:/bin", "/bin/tool.wasm"},
		{"PATH skips missing", "tool.wasm", "/", "/nope:/usr/bin", "/usr/bin/tool.wasm"},
		{"PATH symlink", "linked.wasm", "/", "/bin", "/bin/linked.wasm"},
		{"cwd fallback", "local.wasm", "/work", "/bin:/usr/bin", "/work/local.wasm"},
		{"relative PATH entry", "rel.wasm", "/app", "sub", "/app/sub/rel.wasm"},
		{"PATH escape stays inside", "tool.wasm", "/", "/../../bin", "/bin/tool.wasm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fsys.LookPath(tc.arg0, tc.cwd, tc.path)
			if err != nil || got != tc.want {
				t.Errorf("LookPath(%q, %q, %q) = %q, %v; want %q", tc.arg0, tc.cwd, tc.path, got, err, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, arg0, cwd, path string
		mention               []string
	}{
		{"not in PATH nor cwd", "nope.wasm", "/work", "/bin:/usr/bin",
			[]string{`"nope.wasm"`, "/bin/nope.wasm (no such file or directory)", "/usr/bin/nope.wasm", "/work/nope.wasm", `PATH "/bin:/usr/bin"`}},
		{"directory only", "tool.wasm", "/", "/usr/local/bin",
			[]string{"/usr/local/bin/tool.wasm (directory, not a regular file)", "/tool.wasm"}},
		{"absolute missing", "/app/missing.wasm", "/", "/app", []string{`"/app/missing.wasm"`, "as given", "/app/missing.wasm (no such"}},
		{"absolute directory", "/app", "/", "", []string{"/app (directory, not a regular file)"}},
		{"escape through symlink", "/outsideabs", "/", "", []string{"/outsideabs (no such file"}},
		{"escape with dotdot", "../outside/secret", "/", "", []string{"/outside/secret"}},
		{"empty", "", "/", "/bin", []string{"empty argv[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fsys.LookPath(tc.arg0, tc.cwd, tc.path)
			if err == nil {
				t.Fatalf("LookPath(%q) = %q, want an error", tc.arg0, got)
			}
			if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error does not wrap fs.ErrNotExist: %v", err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

// TestConcurrentClose runs operations while the FS is closed, for the race
// detector: operations either complete or fail with EBADF, never use a
// recycled descriptor.
func TestConcurrentClose(t *testing.T) {
	fx := newFixture(t)
	fsys, err := confinedfs.New(fx.root)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if _, errno := fsys.Stat("abs/passwd"); errno != 0 && errno != experimentalsys.EBADF {
					t.Errorf("Stat: %v", errno)
					return
				}
				if errno := fsys.Rename("hello.txt", "hello.txt"); errno != 0 && errno != experimentalsys.EBADF {
					t.Errorf("Rename: %v", errno)
					return
				}
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := fsys.Close(); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// TestIssue17AbsoluteSymlink: a symlink with an absolute target would be a
// host file pointing at the host's "/" (in a bind-mounted volume, the host
// and other containers follow it): refused with EPERM, as wazero's DirFS
// does, and nothing is created.
func TestIssue17AbsoluteSymlink(t *testing.T) {
	fx := newFixture(t)
	fsys := mustNew(t, fx.root)
	for _, target := range []string{"/", "/etc/passwd", "//x", "/hello.txt"} {
		wantErrno(t, "Symlink "+target, fsys.Symlink(target, "abs-link"), experimentalsys.EPERM)
		if _, err := os.Lstat(filepath.Join(fx.root, "abs-link")); !os.IsNotExist(err) {
			t.Fatalf("Symlink %q left a link on the host: %v", target, err)
		}
	}
	wantErrno(t, "Symlink relative", fsys.Symlink("hello.txt", "rel-link"), 0)
}
