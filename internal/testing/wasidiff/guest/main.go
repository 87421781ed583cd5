//go:build wasip1

// Command guest is the differential WASI test module: it calls the host's
// wasi_snapshot_preview1 functions directly and prints one line per check,
// "name: result", with only what must not vary between two runs (errnos,
// sizes, contents, types; never inodes, times of day or random bytes).
//
// Usage: guest GROUP [EXIT]; GROUP is "all" or one of the groups below.
// It exits with EXIT (default 0) through proc_exit.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"unsafe"
)

var errnoNames = strings.Fields(`SUCCESS 2BIG ACCES ADDRINUSE ADDRNOTAVAIL AFNOSUPPORT AGAIN ALREADY BADF
BADMSG BUSY CANCELED CHILD CONNABORTED CONNREFUSED CONNRESET DEADLK DESTADDRREQ DOM DQUOT EXIST FAULT
FBIG HOSTUNREACH IDRM ILSEQ INPROGRESS INTR INVAL IO ISCONN ISDIR LOOP MFILE MLINK MSGSIZE MULTIHOP
NAMETOOLONG NETDOWN NETRESET NETUNREACH NFILE NOBUFS NODEV NOENT NOEXEC NOLCK NOLINK NOMEM NOMSG
NOPROTOOPT NOSPC NOSYS NOTCONN NOTDIR NOTEMPTY NOTRECOVERABLE NOTSOCK NOTSUP NOTTY NXIO OVERFLOW
OWNERDEAD PERM PIPE PROTO PROTONOSUPPORT PROTOTYPE RANGE ROFS SPIPE SRCH STALE TIMEDOUT TXTBSY XDEV
NOTCAPABLE`)

func en(e int32) string {
	if e >= 0 && int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return "E" + strconv.Itoa(int(e))
}

func out(name, format string, a ...any) {
	fmt.Printf("%s: %s\n", name, fmt.Sprintf(format, a...))
}

const (
	oCreat = 1
	oDir   = 2
	oExcl  = 4
	oTrunc = 8

	fdAppend   = 1
	fdNonblock = 4

	follow = 1

	rRead  = 1 << 1
	rWrite = 1 << 6
	rAll   = (1 << 30) - 1
)

// preopen fds by guest path, found with fd_prestat_get.
var pre = map[string]int32{}

func open(dir int32, dirflags int32, p string, oflags int32, rights int64, fdflags int32) (int32, int32) {
	var fd int32 = -1
	a, n := str(p)
	e := path_open(dir, dirflags, a, n, oflags, rights, rights, fdflags, ptr(&fd))
	return fd, e
}

// try opens p and closes it again, reporting the errno.
func try(name string, dir int32, dirflags int32, p string, oflags int32, rights int64, fdflags int32) {
	fd, e := open(dir, dirflags, p, oflags, rights, fdflags)
	if e == 0 {
		fd_close(fd)
	}
	out(name, "%s", en(e))
}

func write(fd int32, s string) (int, int32) {
	b := []byte(s)
	var n uint32
	e := fd_write(fd, ptr(iov(b)), 1, ptr(&n))
	return int(n), e
}

func read(fd int32, size int) (string, int32) {
	b := make([]byte, size)
	var n uint32
	e := fd_read(fd, ptr(iov(b)), 1, ptr(&n))
	return string(b[:n]), e
}

func pwrite(fd int32, s string, off int64) (int, int32) {
	b := []byte(s)
	var n uint32
	e := fd_pwrite(fd, ptr(iov(b)), 1, off, ptr(&n))
	return int(n), e
}

func pread(fd int32, size int, off int64) (string, int32) {
	b := make([]byte, size)
	var n uint32
	e := fd_pread(fd, ptr(iov(b)), 1, off, ptr(&n))
	return string(b[:n]), e
}

type filestat struct {
	typ        byte
	nlink      uint64
	size       uint64
	atim, mtim uint64
}

func parseStat(b []byte) filestat {
	le := binary.LittleEndian
	return filestat{typ: b[16], nlink: le.Uint64(b[24:]), size: le.Uint64(b[32:]), atim: le.Uint64(b[40:]), mtim: le.Uint64(b[48:])}
}

var fileTypes = []string{"unknown", "block", "char", "dir", "file", "dgram", "stream", "symlink"}

func ftype(t byte) string {
	if int(t) < len(fileTypes) {
		return fileTypes[t]
	}
	return "type" + strconv.Itoa(int(t))
}

func pstat(dir int32, flags int32, p string) (filestat, int32) {
	b := make([]byte, 64)
	a, n := str(p)
	e := path_filestat_get(dir, flags, a, n, ptr(&b[0]))
	return parseStat(b), e
}

func fstat(fd int32) (filestat, int32) {
	b := make([]byte, 64)
	e := fd_filestat_get(fd, ptr(&b[0]))
	return parseStat(b), e
}

func statLine(name string, dir int32, flags int32, p string) {
	st, e := pstat(dir, flags, p)
	if e != 0 {
		out(name, "%s", en(e))
		return
	}
	if st.typ == 3 { // directory sizes are the filesystem's business
		out(name, "%s", ftype(st.typ))
		return
	}
	out(name, "%s size=%d", ftype(st.typ), st.size)
}

var groups = []struct {
	name string
	run  func()
}{
	{"prestat", checkPrestat},
	{"args", checkArgs},
	{"env", checkEnv},
	{"clock", checkClock},
	{"random", checkRandom},
	{"open", checkOpen},
	{"rw", checkReadWrite},
	{"pwrite-append", checkPwriteAppend},
	{"fdstat", checkFdstat},
	{"filestat", checkFilestat},
	{"times", checkTimes},
	{"dirs", checkDirs},
	{"readdir", checkReaddir},
	{"links", checkLinks},
	{"symlink-abs", checkSymlinkAbs},
	{"escape", checkEscape},
	{"rename", checkRename},
	{"readonly", checkReadOnly},
	{"renumber", checkRenumber},
	{"large", checkLarge},
	{"poll", checkPoll},
	{"devices", checkDevices},
	{"sock", checkSock},
	{"misc", checkMisc},
}

func main() {
	group := "all"
	if len(os.Args) > 1 {
		group = os.Args[1]
	}
	code := 0
	if len(os.Args) > 2 {
		code, _ = strconv.Atoi(os.Args[2])
	}
	findPreopens()
	found := false
	for _, g := range groups {
		if group == "all" || group == g.name {
			found = true
			g.run()
		}
	}
	if !found {
		fmt.Fprintf(os.Stderr, "unknown group %q\n", group)
		proc_exit(2)
	}
	fmt.Fprintln(os.Stderr, "guest: done")
	proc_exit(int32(code))
}

func findPreopens() {
	for fd := int32(3); fd < 64; fd++ {
		b := make([]byte, 8)
		if e := fd_prestat_get(fd, ptr(&b[0])); e != 0 {
			break
		}
		n := binary.LittleEndian.Uint32(b[4:])
		name := make([]byte, n)
		if n > 0 {
			fd_prestat_dir_name(fd, ptr(&name[0]), int32(n))
		}
		pre[string(name)] = fd
	}
}

func root() int32 { return pre["/"] }

func checkPrestat() {
	var names []string
	for n := range pre {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out("prestat "+n, "fd %d", pre[n])
	}
	b := make([]byte, 8)
	out("prestat_get stdout", "%s", en(fd_prestat_get(1, ptr(&b[0]))))
	out("prestat_get bad fd", "%s", en(fd_prestat_get(99, ptr(&b[0]))))
	buf := make([]byte, 1)
	out("prestat_dir_name short buffer", "%s", en(fd_prestat_dir_name(root(), ptr(&buf[0]), 0)))
}

func checkArgs() {
	var argc, size uint32
	e := args_sizes_get(ptr(&argc), ptr(&size))
	out("args_sizes_get", "%s argc=%d size=%d", en(e), argc, size)
	argv := make([]uint32, argc)
	buf := make([]byte, size)
	e = args_get(ptr(&argv[0]), ptr(&buf[0]))
	out("args_get", "%s %q", en(e), strings.Split(strings.TrimRight(string(buf), "\x00"), "\x00"))
}

func checkEnv() {
	var n, size uint32
	e := environ_sizes_get(ptr(&n), ptr(&size))
	out("environ_sizes_get", "%s n=%d size=%d", en(e), n, size)
	if n == 0 {
		return
	}
	env := make([]uint32, n)
	buf := make([]byte, size)
	e = environ_get(ptr(&env[0]), ptr(&buf[0]))
	out("environ_get", "%s %q", en(e), strings.Split(strings.TrimRight(string(buf), "\x00"), "\x00"))
}

func checkClock() {
	for id := int32(0); id < 5; id++ {
		var res, t1, t2 uint64
		e := clock_res_get(id, ptr(&res))
		out(fmt.Sprintf("clock_res_get %d", id), "%s positive=%v", en(e), res > 0)
		e1 := clock_time_get(id, 1, ptr(&t1))
		e2 := clock_time_get(id, 1, ptr(&t2))
		out(fmt.Sprintf("clock_time_get %d", id), "%s %s monotonic=%v", en(e1), en(e2), t2 >= t1)
	}
}

func checkRandom() {
	b := make([]byte, 64)
	e := random_get(ptr(&b[0]), int32(len(b)))
	nonzero := false
	for _, c := range b {
		nonzero = nonzero || c != 0
	}
	out("random_get", "%s nonzero=%v", en(e), nonzero)
	out("random_get empty", "%s", en(random_get(ptr(&b[0]), 0)))
}

func checkOpen() {
	r := root()
	try("open file", r, follow, "file.txt", 0, rRead, 0)
	try("open missing ENOENT", r, follow, "missing", 0, rRead, 0)
	try("open excl existing EEXIST", r, follow, "file.txt", oCreat|oExcl, rAll, 0)
	try("open dir for write EISDIR", r, follow, "dir", 0, rRead|rWrite, 0)
	try("open file as dir ENOTDIR", r, follow, "file.txt", oDir, rRead, 0)
	try("open through file ENOTDIR", r, follow, "file.txt/x", 0, rRead, 0)
	try("open bad dirfd EBADF", 99, follow, "file.txt", 0, rRead, 0)
	try("open relative to file ENOTDIR", 1, follow, "file.txt", 0, rRead, 0)
	try("open symlink loop ELOOP", r, follow, "loop1", 0, rRead, 0)
	try("open nofollow symlink", r, 0, "link-rel", 0, rRead, 0)
	try("open nofollow dir symlink as dir", r, 0, "link-dir", oDir, rRead, 0)
	try("open follow relative symlink", r, follow, "link-rel", 0, rRead, 0)
	try("open empty path", r, follow, "", 0, rRead, 0)
	try("open trailing slash on file", r, follow, "file.txt/", 0, rRead, 0)
	try("open create", r, follow, "created.txt", oCreat, rAll, 0)
	try("open create in missing dir ENOENT", r, follow, "nodir/x", oCreat, rAll, 0)
	fd, e := open(r, follow, "created.txt", oTrunc, rAll, 0)
	out("open trunc", "%s", en(e))
	if e == 0 {
		st, _ := fstat(fd)
		out("open trunc size", "%d", st.size)
		fd_close(fd)
	}
	out("close twice", "%s", en(fd_close(fd)))
	out("close bad fd EBADF", "%s", en(fd_close(99)))
}

func checkReadWrite() {
	r := root()
	fd, e := open(r, follow, "rw.txt", oCreat|oTrunc, rAll, 0)
	out("rw open", "%s", en(e))
	n, e := write(fd, "0123456789")
	out("rw write", "%s n=%d", en(e), n)
	var off uint64
	out("rw tell", "%s", en(fd_tell(fd, ptr(&off))))
	out("rw offset", "%d", off)
	out("rw seek set", "%s", en(fd_seek(fd, 2, 0, ptr(&off))))
	out("rw seek set offset", "%d", off)
	s, e := read(fd, 3)
	out("rw read", "%s %q", en(e), s)
	out("rw seek cur", "%s", en(fd_seek(fd, -1, 1, ptr(&off))))
	out("rw seek cur offset", "%d", off)
	out("rw seek end", "%s", en(fd_seek(fd, -2, 2, ptr(&off))))
	out("rw seek end offset", "%d", off)
	out("rw seek negative EINVAL", "%s", en(fd_seek(fd, -100, 0, ptr(&off))))
	out("rw seek bad whence", "%s", en(fd_seek(fd, 0, 9, ptr(&off))))
	n, e = pwrite(fd, "AB", 4)
	out("rw pwrite", "%s n=%d", en(e), n)
	fd_tell(fd, ptr(&off))
	out("rw pwrite keeps offset", "%d", off)
	s, e = pread(fd, 6, 2)
	out("rw pread", "%s %q", en(e), s)
	s, e = pread(fd, 6, 100)
	out("rw pread past end", "%s %q", en(e), s)
	// scatter/gather
	a, b := []byte("xy"), []byte("z")
	iovs := []iovec{*iov(a), *iov(b)}
	fd_seek(fd, 0, 2, ptr(&off))
	var nw uint32
	e = fd_write(fd, ptr(&iovs[0]), 2, ptr(&nw))
	out("rw writev", "%s n=%d", en(e), nw)
	out("rw allocate", "%s", en(fd_allocate(fd, 0, 20)))
	st, _ := fstat(fd)
	out("rw size after allocate", "%d", st.size)
	out("rw set_size", "%s", en(fd_filestat_set_size(fd, 5)))
	st, _ = fstat(fd)
	out("rw size after set_size", "%d", st.size)
	out("rw advise", "%s", en(fd_advise(fd, 0, 5, 1)))
	out("rw advise bad", "%s", en(fd_advise(fd, 0, 5, 99)))
	out("rw sync", "%s", en(fd_sync(fd)))
	out("rw datasync", "%s", en(fd_datasync(fd)))
	fd_close(fd)
	out("rw read closed EBADF", "%s", func() string { _, e := read(fd, 1); return en(e) }())
	out("rw sync closed EBADF", "%s", en(fd_sync(fd)))

	ro, _ := open(r, follow, "file.txt", 0, rRead, 0)
	_, e = write(ro, "no")
	out("rw write on read-only fd", "%s", en(e))
	_, e = pwrite(ro, "no", 0)
	out("rw pwrite on read-only fd", "%s", en(e))
	out("rw set_size on read-only fd", "%s", en(fd_filestat_set_size(ro, 1)))
	fd_close(ro)
	wo, _ := open(r, follow, "rw.txt", 0, rWrite, 0)
	_, e = read(wo, 1)
	out("rw read on write-only fd", "%s", en(e))
	fd_close(wo)
	d, _ := open(r, follow, "dir", oDir, rRead, 0)
	_, e = read(d, 1)
	out("rw read dir EISDIR", "%s", en(e))
	_, e = write(d, "x")
	out("rw write dir", "%s", en(e))
	_, e = pread(d, 1, 0)
	out("rw pread dir", "%s", en(e))
	out("rw seek dir", "%s", en(fd_seek(d, 1, 0, ptr(&off))))
	out("rw set_size dir", "%s", en(fd_filestat_set_size(d, 1)))
	fd_close(d)
}

func checkPwriteAppend() {
	r := root()
	fd, e := open(r, follow, "append.txt", oCreat|oTrunc, rAll, fdAppend)
	out("append open", "%s", en(e))
	write(fd, "abc")
	n, e := pwrite(fd, "XY", 0)
	out("append pwrite", "%s n=%d", en(e), n)
	var off uint64
	fd_tell(fd, ptr(&off))
	out("append offset", "%d", off)
	fd_close(fd)
	fd, _ = open(r, follow, "append.txt", 0, rRead, 0)
	s, _ := read(fd, 64)
	out("append content", "%q", s)
	fd_close(fd)
}

func fdstat(fd int32) (byte, uint16, int32) {
	b := make([]byte, 24)
	e := fd_fdstat_get(fd, ptr(&b[0]))
	return b[0], binary.LittleEndian.Uint16(b[2:]), e
}

func checkFdstat() {
	r := root()
	for _, fd := range []int32{0, 1, 2, r} {
		t, fl, e := fdstat(fd)
		out(fmt.Sprintf("fdstat %d", fd), "%s %s flags=%d", en(e), ftype(t), fl)
	}
	_, _, e := fdstat(99)
	out("fdstat bad fd EBADF", "%s", en(e))
	fd, _ := open(r, follow, "flags.txt", oCreat|oTrunc, rAll, 0)
	write(fd, "12345")
	out("set_flags append", "%s", en(fd_fdstat_set_flags(fd, fdAppend)))
	_, fl, _ := fdstat(fd)
	out("set_flags append flags", "%d", fl)
	var off uint64
	fd_seek(fd, 0, 0, ptr(&off))
	write(fd, "X")
	st, _ := fstat(fd)
	out("set_flags append write lands at end", "size=%d", st.size)
	out("set_flags clear", "%s", en(fd_fdstat_set_flags(fd, 0)))
	out("set_flags nonblock", "%s", en(fd_fdstat_set_flags(fd, fdNonblock)))
	out("set_flags sync", "%s", en(fd_fdstat_set_flags(fd, 16)))
	out("set_flags bad fd", "%s", en(fd_fdstat_set_flags(99, 0)))
	out("set_rights", "%s", en(fd_fdstat_set_rights(fd, rRead, 0)))
	out("set_rights bad fd", "%s", en(fd_fdstat_set_rights(99, rRead, 0)))
	fd_close(fd)
}

func checkFilestat() {
	r := root()
	statLine("pstat file", r, follow, "file.txt")
	statLine("pstat dir", r, follow, "dir")
	statLine("pstat symlink nofollow", r, 0, "link-rel")
	statLine("pstat symlink follow", r, follow, "link-rel")
	statLine("pstat missing ENOENT", r, follow, "missing")
	statLine("pstat through file ENOTDIR", r, follow, "file.txt/x")
	statLine("pstat loop ELOOP", r, follow, "loop1")
	statLine("pstat bad fd", 99, follow, "file.txt")
	statLine("pstat root", r, follow, ".")
	fd, _ := open(r, follow, "file.txt", 0, rRead, 0)
	st, e := fstat(fd)
	out("fstat file", "%s %s size=%d nlink=%d", en(e), ftype(st.typ), st.size, st.nlink)
	fd_close(fd)
	_, e = fstat(99)
	out("fstat bad fd", "%s", en(e))
	st, e = fstat(1)
	out("fstat stdout", "%s", en(e))
}

func checkTimes() {
	r := root()
	fd, _ := open(r, follow, "times.txt", oCreat|oTrunc, rAll, 0)
	const atim, mtim = 1_000_000_000_123_000_000, 1_100_000_000_456_000_000
	out("fd set_times", "%s", en(fd_filestat_set_times(fd, atim, mtim, 1|4)))
	st, _ := fstat(fd)
	out("fd set_times read back", "atim=%d mtim=%d", st.atim, st.mtim)
	out("fd set_times omit", "%s", en(fd_filestat_set_times(fd, 0, 0, 0)))
	out("fd set_times both ATIM and ATIM_NOW EINVAL", "%s", en(fd_filestat_set_times(fd, 0, 0, 1|2)))
	out("fd set_times now", "%s", en(fd_filestat_set_times(fd, 0, 0, 2|8)))
	fd_close(fd)
	a, n := str("times.txt")
	out("path set_times", "%s", en(path_filestat_set_times(r, follow, a, n, atim, mtim, 1|4)))
	st, _ = pstat(r, follow, "times.txt")
	out("path set_times read back", "atim=%d mtim=%d", st.atim, st.mtim)
	a, n = str("link-times")
	out("path set_times symlink follow", "%s", en(path_filestat_set_times(r, follow, a, n, atim+1e9, mtim+1e9, 1|4)))
	st, _ = pstat(r, follow, "times.txt")
	out("path set_times symlink follow read back", "mtim=%d", st.mtim)
	out("path set_times symlink nofollow", "%s", en(path_filestat_set_times(r, 0, a, n, atim, mtim, 1|4)))
	a, n = str("missing")
	out("path set_times missing", "%s", en(path_filestat_set_times(r, follow, a, n, atim, mtim, 1|4)))
	a, n = str("times.txt")
	out("path set_times both MTIM and MTIM_NOW EINVAL", "%s", en(path_filestat_set_times(r, follow, a, n, 0, 0, 4|8)))
}

func mkdir(dir int32, p string) int32 {
	a, n := str(p)
	return path_create_directory(dir, a, n)
}

func rmdir(dir int32, p string) int32 {
	a, n := str(p)
	return path_remove_directory(dir, a, n)
}

func unlink(dir int32, p string) int32 {
	a, n := str(p)
	return path_unlink_file(dir, a, n)
}

func checkDirs() {
	r := root()
	out("mkdir", "%s", en(mkdir(r, "newdir")))
	out("mkdir existing EEXIST", "%s", en(mkdir(r, "newdir")))
	out("mkdir over file EEXIST", "%s", en(mkdir(r, "file.txt")))
	out("mkdir in missing ENOENT", "%s", en(mkdir(r, "nodir/x")))
	out("mkdir nested", "%s", en(mkdir(r, "newdir/sub")))
	out("rmdir nonempty ENOTEMPTY", "%s", en(rmdir(r, "newdir")))
	out("rmdir file ENOTDIR", "%s", en(rmdir(r, "file.txt")))
	out("rmdir missing ENOENT", "%s", en(rmdir(r, "missing")))
	out("rmdir sub", "%s", en(rmdir(r, "newdir/sub")))
	out("rmdir dot", "%s", en(rmdir(r, ".")))
	out("unlink dir EISDIR", "%s", en(unlink(r, "newdir")))
	out("unlink missing ENOENT", "%s", en(unlink(r, "missing")))
	out("unlink file", "%s", en(unlink(r, "created.txt")))
	out("unlink symlink to dir", "%s", en(unlink(r, "link-dir2")))
	out("unlink trailing slash on file", "%s", en(unlink(r, "flags.txt/")))
	out("mkdir bad fd", "%s", en(mkdir(99, "x")))
	out("rmdir bad fd", "%s", en(rmdir(99, "x")))
	out("unlink bad fd", "%s", en(unlink(99, "x")))
}

func readdirAll(fd int32, bufSize int) ([]string, int, int32) {
	var names []string
	var cookie uint64
	calls := 0
	for calls < 1000 {
		calls++
		buf := make([]byte, bufSize)
		var used uint32
		if e := fd_readdir(fd, ptr(&buf[0]), int32(bufSize), int64(cookie), ptr(&used)); e != 0 {
			return names, calls, e
		}
		b := buf[:used]
		progressed := false
		for len(b) >= 24 {
			next := binary.LittleEndian.Uint64(b[0:])
			nlen := binary.LittleEndian.Uint32(b[16:])
			typ := b[20]
			if len(b) < 24+int(nlen) {
				break // truncated entry: ask again from its cookie
			}
			names = append(names, string(b[24:24+nlen])+"/"+ftype(typ))
			cookie = next
			progressed = true
			b = b[24+nlen:]
		}
		if int(used) < bufSize {
			return names, calls, 0
		}
		if !progressed {
			return names, calls, -1
		}
	}
	return names, calls, -2
}

func checkReaddir() {
	r := root()
	fd, e := open(r, follow, "dir", oDir, rRead, 0)
	out("readdir open", "%s", en(e))
	names, calls, e := readdirAll(fd, 64)
	sort.Strings(names)
	out("readdir small buffer", "%s calls>1=%v %v", en(e), calls > 1, names)
	names, _, e = readdirAll(fd, 4096)
	sort.Strings(names)
	out("readdir again from cookie 0", "%s %d entries", en(e), len(names))
	buf := make([]byte, 256)
	var used uint32
	out("readdir bad cookie", "%s", en(fd_readdir(fd, ptr(&buf[0]), 256, 1<<40, ptr(&used))))
	fd_close(fd)
	f, _ := open(r, follow, "file.txt", 0, rRead, 0)
	out("readdir on file ENOTDIR", "%s", en(fd_readdir(f, ptr(&buf[0]), 256, 0, ptr(&used))))
	fd_close(f)
	out("readdir bad fd", "%s", en(fd_readdir(99, ptr(&buf[0]), 256, 0, ptr(&used))))
	// A directory that changes between calls.
	mkdir(r, "churn")
	d, _ := open(r, follow, "churn", oDir, rRead, 0)
	names, _, _ = readdirAll(d, 4096)
	out("readdir empty", "%v", names)
	fdw, _ := open(r, follow, "churn/new", oCreat, rAll, 0)
	fd_close(fdw)
	names, _, _ = readdirAll(d, 4096)
	sort.Strings(names)
	out("readdir after create, from cookie 0", "%v", names)
	fd_close(d)
}

func checkLinks() {
	r := root()
	a, n := str("file.txt")
	b, m := str("hard.txt")
	out("link", "%s", en(path_link(r, 0, a, n, r, b, m)))
	st, _ := pstat(r, 0, "file.txt")
	out("link nlink", "%d", st.nlink)
	out("link existing EEXIST", "%s", en(path_link(r, 0, a, n, r, b, m)))
	a, n = str("dir")
	b, m = str("hard-dir")
	out("link dir", "%s", en(path_link(r, 0, a, n, r, b, m)))
	a, n = str("missing")
	b, m = str("hard-missing")
	out("link missing ENOENT", "%s", en(path_link(r, 0, a, n, r, b, m)))
	a, n = str("link-rel")
	b, m = str("hard-symlink")
	out("link symlink nofollow", "%s", en(path_link(r, 0, a, n, r, b, m)))
	out("link bad fd", "%s", en(path_link(99, 0, a, n, r, b, m)))

	a, n = str("file.txt")
	b, m = str("sym-new")
	out("symlink relative", "%s", en(path_symlink(a, n, r, b, m)))
	out("symlink existing EEXIST", "%s", en(path_symlink(a, n, r, b, m)))
	b, m = str("nodir/sym")
	out("symlink in missing dir ENOENT", "%s", en(path_symlink(a, n, r, b, m)))
	a, n = str("../../outside")
	b, m = str("sym-dotdot")
	out("symlink dotdot target", "%s", en(path_symlink(a, n, r, b, m)))
	out("symlink bad fd", "%s", en(path_symlink(a, n, 99, b, m)))

	buf := make([]byte, 64)
	var used uint32
	a, n = str("link-rel")
	e := path_readlink(r, a, n, ptr(&buf[0]), 64, ptr(&used))
	out("readlink", "%s %q", en(e), buf[:used])
	e = path_readlink(r, a, n, ptr(&buf[0]), 2, ptr(&used))
	out("readlink short buffer", "%s n=%d", en(e), used)
	a, n = str("file.txt")
	out("readlink not a link EINVAL", "%s", en(path_readlink(r, a, n, ptr(&buf[0]), 64, ptr(&used))))
	a, n = str("missing")
	out("readlink missing ENOENT", "%s", en(path_readlink(r, a, n, ptr(&buf[0]), 64, ptr(&used))))
	out("readlink bad fd", "%s", en(path_readlink(99, a, n, ptr(&buf[0]), 64, ptr(&used))))
	out("unlink symlink", "%s", en(unlink(r, "sym-new")))
}

// checkSymlinkAbs: a symlink with an absolute target is refused (EPERM),
// in the root and in a mount.
func checkSymlinkAbs() {
	for _, dir := range []string{"/", "/data"} {
		fd, ok := pre[dir]
		if !ok {
			continue
		}
		a, n := str("/file.txt")
		b, m := str("sym-abs")
		out("symlink absolute in "+dir, "%s", en(path_symlink(a, n, fd, b, m)))
		statLine("symlink absolute left in "+dir, fd, 0, "sym-abs")
	}
}

func checkEscape() {
	r := root()
	statLine("escape dotdot", r, follow, "../../../../../../etc/passwd")
	statLine("escape dotdot in path", r, follow, "dir/../../../../../../../etc/passwd")
	statLine("escape symlink relative", r, follow, "link-esc/passwd")
	statLine("escape symlink absolute", r, follow, "link-abs")
	try("escape open dotdot", r, follow, "../../../../../../etc/passwd", 0, rRead, 0)
	if d, ok := pre["/data"]; ok {
		statLine("escape from mount dotdot", d, follow, "../file.txt")
	}
}

func checkRename() {
	r := root()
	ren := func(name, from, to string) {
		a, n := str(from)
		b, m := str(to)
		out(name, "%s", en(path_rename(r, a, n, r, b, m)))
	}
	fd, _ := open(r, follow, "ren1.txt", oCreat, rAll, 0)
	write(fd, "ren")
	fd_close(fd)
	ren("rename file", "ren1.txt", "ren2.txt")
	ren("rename missing ENOENT", "ren1.txt", "ren3.txt")
	mkdir(r, "rdir")
	mkdir(r, "rdir2")
	ren("rename file over dir EISDIR", "ren2.txt", "rdir")
	ren("rename dir over file ENOTDIR", "rdir", "ren2.txt")
	ren("rename dir over empty dir", "rdir", "rdir2")
	mkdir(r, "rdir3")
	ren("rename dir over nonempty ENOTEMPTY", "rdir3", "dir")
	ren("rename dir into itself EINVAL", "rdir3", "rdir3/sub")
	ren("rename file over file", "ren2.txt", "hard.txt")
	a, n := str("x")
	out("rename bad fd", "%s", en(path_rename(99, a, n, r, a, n)))
	if d, ok := pre["/data"]; ok {
		b, m := str("rdir3")
		c, k := str("moved")
		out("rename across mounts", "%s", en(path_rename(r, b, m, d, c, k)))
	}
}

func checkReadOnly() {
	ro, ok := pre["/ro"]
	if !ok {
		return
	}
	try("ro open read", ro, follow, "r.txt", 0, rRead, 0)
	try("ro open write", ro, follow, "r.txt", 0, rRead|rWrite, 0)
	try("ro open create", ro, follow, "new.txt", oCreat, rAll, 0)
	try("ro open trunc", ro, follow, "r.txt", oTrunc, rAll, 0)
	try("ro open append", ro, follow, "r.txt", 0, rRead, fdAppend)
	out("ro mkdir", "%s", en(mkdir(ro, "d")))
	out("ro rmdir", "%s", en(rmdir(ro, "sub")))
	out("ro unlink", "%s", en(unlink(ro, "r.txt")))
	a, n := str("r.txt")
	b, m := str("r2.txt")
	out("ro rename", "%s", en(path_rename(ro, a, n, ro, b, m)))
	out("ro link", "%s", en(path_link(ro, 0, a, n, ro, b, m)))
	out("ro symlink", "%s", en(path_symlink(a, n, ro, b, m)))
	out("ro path set_times", "%s", en(path_filestat_set_times(ro, follow, a, n, 1, 1, 1|4)))
	fd, e := open(ro, follow, "r.txt", 0, rRead, 0)
	if e == 0 {
		_, e = write(fd, "x")
		out("ro write", "%s", en(e))
		out("ro fd set_times", "%s", en(fd_filestat_set_times(fd, 1, 1, 1|4)))
		out("ro set_size", "%s", en(fd_filestat_set_size(fd, 0)))
		out("ro allocate", "%s", en(fd_allocate(fd, 0, 100)))
		s, e := read(fd, 64)
		out("ro read", "%s %q", en(e), s)
		fd_close(fd)
	}
}

func checkRenumber() {
	r := root()
	a, _ := open(r, follow, "file.txt", 0, rRead, 0)
	b, _ := open(r, follow, "rw.txt", 0, rRead, 0)
	out("renumber", "%s", en(fd_renumber(a, b)))
	s, e := read(b, 5)
	out("renumber target reads source", "%s %q", en(e), s)
	_, e = read(a, 1)
	out("renumber source closed EBADF", "%s", en(e))
	out("renumber bad source EBADF", "%s", en(fd_renumber(99, b)))
	out("renumber to unused fd", "%s", en(fd_renumber(b, 40)))
	_, e = read(40, 1)
	out("renumber to unused fd read", "%s", en(e))
	out("renumber onto preopen", "%s", en(fd_renumber(40, r)))
	out("renumber preopen away", "%s", en(fd_renumber(r, 41)))
	out("renumber same fd", "%s", en(fd_renumber(40, 40)))
	fd_close(40)
	fd_close(41)
}

func checkLarge() {
	r := root()
	fd, e := open(r, follow, "large.bin", oCreat|oTrunc, rAll, 0)
	out("large open", "%s", en(e))
	const off = 5 << 30 // 5 GiB: past any 32-bit offset
	n, e := pwrite(fd, "tail", off)
	out("large pwrite at 5GiB", "%s n=%d", en(e), n)
	st, _ := fstat(fd)
	out("large size", "%d", st.size)
	s, e := pread(fd, 4, off)
	out("large pread at 5GiB", "%s %q", en(e), s)
	var pos uint64
	out("large seek", "%s", en(fd_seek(fd, off+2, 0, ptr(&pos))))
	s, e = read(fd, 2)
	out("large read after seek", "%s %q pos=%d", en(e), s, pos)
	out("large set_size shrink", "%s", en(fd_filestat_set_size(fd, 1<<32+1)))
	st, _ = fstat(fd)
	out("large size after shrink", "%d", st.size)
	fd_close(fd)
}

const (
	evClock = 0
	evRead  = 1
	evWrite = 2
)

type event struct {
	userdata uint64
	errno    uint16
	typ      byte
}

func poll(subs [][]byte) ([]event, int32) {
	in := make([]byte, 48*len(subs))
	for i, s := range subs {
		copy(in[48*i:], s)
	}
	outb := make([]byte, 32*len(subs))
	var n uint32
	var inp ptr
	if len(subs) > 0 {
		inp = ptr(&in[0])
	} else {
		inp = ptr(new([48]byte))
		outb = make([]byte, 32)
	}
	e := poll_oneoff(inp, ptr(&outb[0]), int32(len(subs)), ptr(&n))
	var evs []event
	for i := 0; i < int(n); i++ {
		b := outb[32*i:]
		evs = append(evs, event{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint16(b[8:]), b[10]})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].userdata < evs[j].userdata })
	return evs, e
}

func clockSub(userdata uint64, id uint32, timeout uint64, flags uint16) []byte {
	b := make([]byte, 48)
	le := binary.LittleEndian
	le.PutUint64(b, userdata)
	b[8] = evClock
	le.PutUint32(b[16:], id)
	le.PutUint64(b[24:], timeout)
	le.PutUint16(b[40:], flags)
	return b
}

func fdSub(userdata uint64, typ byte, fd uint32) []byte {
	b := make([]byte, 48)
	binary.LittleEndian.PutUint64(b, userdata)
	b[8] = typ
	binary.LittleEndian.PutUint32(b[16:], fd)
	return b
}

func fmtEvents(evs []event) string {
	var s []string
	for _, ev := range evs {
		s = append(s, fmt.Sprintf("%d:%s:%d", ev.userdata, en(int32(ev.errno)), ev.typ))
	}
	return strings.Join(s, " ")
}

func checkPoll() {
	evs, e := poll([][]byte{clockSub(1, 1, 1e6, 0)})
	out("poll relative clock", "%s [%s]", en(e), fmtEvents(evs))
	// An absolute deadline in the past (1 ms after the epoch): wazero's
	// host takes every timeout as relative, so a real deadline would sleep
	// for decades there.
	evs, e = poll([][]byte{clockSub(2, 0, 1e6, 1)})
	out("poll absolute clock in the past", "%s [%s]", en(e), fmtEvents(evs))
	_, e = poll(nil)
	out("poll no subscriptions EINVAL", "%s", en(e))
	evs, e = poll([][]byte{fdSub(3, evRead, 0), clockSub(4, 1, 50e6, 0)})
	out("poll stdin with timeout", "%s [%s]", en(e), fmtEvents(evs))
	// With a clock: wazero's host sleeps forever on fd_write
	// subscriptions alone (it acks them, then sleeps for the minimum
	// clock timeout, which is "never" without a clock).
	evs, e = poll([][]byte{fdSub(5, evWrite, 1), clockSub(11, 1, 1e6, 0)})
	out("poll stdout writable", "%s [%s]", en(e), fmtEvents(evs))
	evs, e = poll([][]byte{fdSub(6, evRead, 99), clockSub(7, 1, 1e6, 0)})
	out("poll bad fd", "%s [%s]", en(e), fmtEvents(evs))
	fd, _ := open(root(), follow, "file.txt", 0, rRead, 0)
	evs, e = poll([][]byte{fdSub(8, evRead, uint32(fd)), clockSub(12, 1, 1e6, 0)})
	out("poll regular file readable", "%s [%s]", en(e), fmtEvents(evs))
	fd_close(fd)
	b := make([]byte, 48)
	b[8] = 9 // unknown type
	evs, e = poll([][]byte{b, clockSub(10, 1, 1e6, 0)})
	out("poll unknown subscription type", "%s [%s]", en(e), fmtEvents(evs))
}

func checkDevices() {
	dev, ok := pre["/dev"]
	if !ok {
		out("devices", "no /dev preopen")
		return
	}
	fd, e := open(dev, follow, "null", 0, rRead|rWrite, 0)
	out("dev null open", "%s", en(e))
	n, e := write(fd, "discarded")
	out("dev null write", "%s n=%d", en(e), n)
	s, e := read(fd, 16)
	out("dev null read", "%s %q", en(e), s)
	st, e := fstat(fd)
	out("dev null stat", "%s %s", en(e), ftype(st.typ))
	fd_close(fd)
	fd, e = open(dev, follow, "zero", 0, rRead, 0)
	out("dev zero open", "%s", en(e))
	s, e = read(fd, 8)
	out("dev zero read", "%s %q", en(e), s)
	fd_close(fd)
	fd, e = open(dev, follow, "urandom", 0, rRead, 0)
	out("dev urandom open", "%s", en(e))
	s, e = read(fd, 32)
	out("dev urandom read", "%s n=%d distinct=%v", en(e), len(s), strings.Count(s, "\x00") < 8)
	fd_close(fd)
	_, err := os.Stat(os.DevNull)
	out("dev os.Stat(os.DevNull)", "%v", err)
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString("x")
		f.Close()
	}
	out("dev os.OpenFile(os.DevNull) write", "%v", err)
}

func checkSock() {
	var fd int32
	out("sock_accept on dir", "%s", en(sock_accept(root(), 0, ptr(&fd))))
	out("sock_accept bad fd", "%s", en(sock_accept(99, 0, ptr(&fd))))
	b := make([]byte, 8)
	var n uint32
	var fl uint16
	out("sock_recv stdin", "%s", en(sock_recv(0, ptr(iov(b)), 1, 0, ptr(&n), ptr(&fl))))
	out("sock_send stdout", "%s", en(sock_send(1, ptr(iov(b)), 1, 0, ptr(&n))))
	out("sock_shutdown stdout", "%s", en(sock_shutdown(1, 3)))
	out("sock_shutdown bad fd", "%s", en(sock_shutdown(99, 3)))
}

func checkMisc() {
	out("sched_yield", "%s", en(sched_yield()))
	out("proc_raise", "%s", en(proc_raise(15)))
	fmt.Fprintln(os.Stderr, "guest: to stderr")
	_, e := write(2, "raw stderr\n")
	out("fd_write stderr", "%s", en(e))
	_, e = write(99, "x")
	out("fd_write bad fd EBADF", "%s", en(e))
	_, e = read(1, 1)
	out("fd_read stdout", "%s", en(e))
	s, e := read(0, 8)
	out("fd_read stdin", "%s %q", en(e), s)
}

var _ = unsafe.Pointer(nil)
