package devfs

import (
	"bytes"
	"io/fs"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

func TestDevices(t *testing.T) {
	fsys := New()
	null, errno := fsys.OpenFile("null", experimentalsys.O_RDWR, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if n, errno := null.Write([]byte("gone")); n != 4 || errno != 0 {
		t.Errorf("null Write = %d, %v", n, errno)
	}
	if n, errno := null.Read(make([]byte, 8)); n != 0 || errno != 0 {
		t.Errorf("null Read = %d, %v; want end of file", n, errno)
	}
	st, _ := null.Stat()
	if st.Mode.Type() != fs.ModeDevice|fs.ModeCharDevice || st.Mode.Perm() != 0o666 {
		t.Errorf("null mode %v", st.Mode)
	}
	null.Close()

	zero, _ := fsys.OpenFile("/zero", experimentalsys.O_RDONLY, 0)
	b := []byte("xxxx")
	if n, errno := zero.Read(b); n != 4 || errno != 0 || !bytes.Equal(b, make([]byte, 4)) {
		t.Errorf("zero Read = %d, %v, %q", n, errno, b)
	}
	if _, errno := zero.Write(b); errno != experimentalsys.EBADF {
		t.Errorf("zero Write on a read-only fd = %v, want EBADF", errno)
	}

	u, _ := fsys.OpenFile("urandom", experimentalsys.O_RDONLY, 0)
	r := make([]byte, 64)
	if n, errno := u.Read(r); n != 64 || errno != 0 || bytes.Equal(r, make([]byte, 64)) {
		t.Errorf("urandom Read = %d, %v", n, errno)
	}
	if _, errno := fsys.OpenFile("urandom", experimentalsys.O_WRONLY, 0); errno != experimentalsys.EACCES {
		t.Errorf("urandom for writing: %v, want EACCES", errno)
	}
	for p, want := range map[string]experimentalsys.Errno{
		"sda": experimentalsys.ENOENT, "null/": experimentalsys.ENOTDIR, "null/x": experimentalsys.ENOTDIR,
	} {
		if _, errno := fsys.OpenFile(p, experimentalsys.O_RDONLY, 0); errno != want {
			t.Errorf("OpenFile(%q) = %v, want %v", p, errno, want)
		}
	}
	if _, errno := fsys.OpenFile("new", experimentalsys.O_CREAT|experimentalsys.O_RDWR, 0o644); errno != experimentalsys.EROFS {
		t.Errorf("create: %v, want EROFS", errno)
	}
	for name, errno := range map[string]experimentalsys.Errno{
		"Mkdir": fsys.Mkdir("d", 0o755), "Unlink": fsys.Unlink("null"), "Rename": fsys.Rename("null", "x"),
		"Symlink": fsys.Symlink("null", "x"), "Mkdir existing": fsys.Mkdir("null", 0o755),
	} {
		if errno != experimentalsys.EROFS && !(name == "Mkdir existing" && errno == experimentalsys.EEXIST) {
			t.Errorf("%s = %v", name, errno)
		}
	}

	d, errno := fsys.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	first, _ := d.Readdir(2)
	rest, _ := d.Readdir(-1)
	var names []string
	for _, e := range append(first, rest...) {
		names = append(names, e.Name)
	}
	if got := len(names); got != 4 || names[0] != "null" || names[3] != "zero" {
		t.Errorf("Readdir = %v", names)
	}
	if _, errno := d.Seek(0, 0); errno != 0 {
		t.Fatal(errno)
	}
	if again, _ := d.Readdir(-1); len(again) != 4 {
		t.Errorf("Readdir after rewind = %d entries", len(again))
	}
}
