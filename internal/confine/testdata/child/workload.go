//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/sys/unix"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

func allow(res results, dir, demo string) error {
	p, err := newStdio()
	if err != nil {
		return err
	}
	if err := confine.LockDown(confine.Policy{}); err != nil {
		return err
	}
	if err := workload(res, dir, demo, p, func(string) {}); err != nil {
		return err
	}
	// The process is still confined after all that work.
	res.errno("execve", unix.Exec(trueBin, []string{"true"}, nil))
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Seccomp":
			res["seccomp"] = strings.TrimSpace(v)
		case "CapEff", "NoNewPrivs":
			res[k] = strings.TrimSpace(v)
		}
	}
	return nil
}

// workload does what a worker does once confined. mark is called before
// each part.
func workload(res results, dir, demo string, p *stdio, mark func(section string)) error {
	mark("threads")
	threads(res)
	mark("files")
	if err := files(res, dir); err != nil {
		return err
	}
	mark("clocks")
	clocks(res)
	mark("random")
	random(res)
	mark("guests")
	err := guests(res, dir, demo, p)
	mark("end")
	return err
}

// threads forces the runtime to start new threads: goroutines locked to
// threads, and goroutines blocked in system calls.
func threads(res results) {
	before, _ := os.ReadDir("/proc/self/task")
	release := make(chan struct{})
	tids := lockedThreads(len(before)+8, release, nil)
	blocked := make(chan error)
	for range 16 {
		go func() {
			ts := unix.Timespec{Nsec: int64(20 * time.Millisecond)}
			blocked <- unix.Nanosleep(&ts, nil)
		}()
	}
	var sleepErr error
	for range 16 {
		sleepErr = errors.Join(sleepErr, <-blocked)
	}
	after, _ := os.ReadDir("/proc/self/task")
	close(release)
	res["threads.before"] = strconv.Itoa(len(before))
	res["threads.after"] = strconv.Itoa(len(after))
	res["threads.locked"] = strconv.Itoa(len(tids))
	res.errno("threads.nanosleep", sleepErr)
}

// files does, on the host, every file operation a WASI guest can ask for,
// through the two file systems a worker uses: wazero's DirFS and
// confinedfs (openat2). Then descriptor plumbing.
func files(res results, dir string) error {
	for _, name := range []string{"dirfs", "confinedfs"} {
		root := filepath.Join(dir, "fsops-"+name)
		if err := os.Mkdir(root, 0o755); err != nil {
			return err
		}
		fsys := sysfs.DirFS(root)
		if name == "confinedfs" {
			cfs, err := confinedfs.New(root)
			if err != nil {
				return err
			}
			defer cfs.Close()
			fsys = cfs
		}
		fsops(res, "file."+name+".", fsys)
	}
	return nil
}

// fsops records, under prefix+operation, the outcome of each operation of
// experimentalsys.FS and File, as WASI's path_* and fd_* functions use them.
func fsops(res results, prefix string, fsys experimentalsys.FS) {
	step := func(name string, e experimentalsys.Errno) bool {
		if e == 0 {
			res[prefix+name] = "ok"
		} else {
			res[prefix+name] = e.Error()
		}
		return e == 0
	}
	if !step("mkdir", fsys.Mkdir("d", 0o755)) {
		return
	}
	f, e := fsys.OpenFile("d/a", experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC, 0o644)
	if !step("create", e) {
		return
	}
	_, e = f.Write([]byte("hello"))
	step("write", e)
	_, e = f.Pwrite([]byte("J"), 0)
	step("pwrite", e)
	buf := make([]byte, 5)
	n, e := f.Pread(buf, 0)
	if e == 0 && string(buf[:n]) != "Jello" {
		e = experimentalsys.EIO
	}
	step("pread", e)
	_, e = f.Seek(0, 0)
	step("seek", e)
	_, e = f.Read(buf)
	step("read", e)
	_, e = f.Stat()
	step("fstat", e)
	step("truncate", f.Truncate(2))
	step("sync", f.Sync())
	step("datasync", f.Datasync())
	step("futimens", f.Utimens(1e9, 2e9))
	step("setappend", f.SetAppend(true))
	step("close", f.Close())

	_, e = fsys.Stat("d/a")
	step("stat", e)
	_, e = fsys.Lstat("d/a")
	step("lstat", e)
	step("chmod", fsys.Chmod("d/a", 0o600))
	step("utimens", fsys.Utimens("d/a", 1e9, 2e9))
	step("rename", fsys.Rename("d/a", "d/b"))
	step("link", fsys.Link("d/b", "d/c"))
	step("symlink", fsys.Symlink("b", "d/s"))
	_, e = fsys.Readlink("d/s")
	step("readlink", e)
	if d, e := fsys.OpenFile("d", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0); step("opendir", e) {
		ents, e := d.Readdir(-1)
		if e == 0 && len(ents) != 3 {
			e = experimentalsys.EIO
		}
		step("readdir", e)
		d.Close()
	}
	step("unlink", fsys.Unlink("d/b"))
	step("unlink2", fsys.Unlink("d/c"))
	step("unlink3", fsys.Unlink("d/s"))
	step("rmdir", fsys.Rmdir("d"))
}

// clocks checks that time passes and timers fire.
func clocks(res results) {
	var ts unix.Timespec
	res.errno("clock_gettime", unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	t0 := time.Now()
	select {
	case <-time.After(time.Millisecond):
	case <-time.After(time.Minute):
		res["timer"] = "did not fire"
		return
	}
	res["timer"] = "ok"
	if !time.Now().After(t0) {
		res["timer"] = "time did not advance"
	}
}

func random(res results) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	res.errno("crypto/rand", err)
	_, err = unix.Getrandom(b, 0)
	res.errno("getrandom", err)
}

// guests runs tiny's hello module and the demo module with wazero's
// compiler, as a worker does.
func guests(res results, dir, demoPath string, p *stdio) error {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)

	run := func(name string, mod wazero.CompiledModule, fs wazero.FSConfig, args ...string) {
		var stdout, stderr bytes.Buffer
		cfg := wazero.NewModuleConfig().WithName("").WithArgs(append([]string{"demo"}, args...)...).
			WithStdout(&stdout).WithStderr(&stderr).WithSysWalltime().WithSysNanotime().
			WithSysNanosleep().WithRandSource(rand.Reader)
		if fs != nil {
			cfg = cfg.WithFSConfig(fs)
		}
		_, err := rt.InstantiateModule(ctx, mod, cfg)
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 0 {
			err = nil
		}
		res[name+".stdout"] = stdout.String()
		res[name+".err"] = fmt.Sprint(err)
		if stderr.Len() > 0 {
			res[name+".stderr"] = stderr.String()
		}
	}

	hello, err := rt.CompileModule(ctx, tiny.Modules()["hello.wasm"])
	if err != nil {
		return fmt.Errorf("compile hello.wasm: %w", err)
	}
	run("hello", hello, nil)

	wasm, err := os.ReadFile(demoPath)
	if err != nil {
		return err
	}
	demo, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("compile demo: %w", err)
	}
	run("alloc", demo, nil, "alloc", "32")
	run("sleep", demo, nil, "sleep", "0.1")
	pipes(ctx, res, rt, demo, p)

	// File I/O through wazero's DirFS and through confinedfs (openat2).
	dirfs := filepath.Join(dir, "dirfs")
	if err := os.Mkdir(dirfs, 0o755); err != nil {
		return err
	}
	fsc := wazero.NewFSConfig().WithDirMount(dirfs, "/")
	run("dirfs.write", demo, fsc, "write", "/f.txt", "via", "dirfs")
	run("dirfs.cat", demo, fsc, "cat", "/f.txt")
	run("dirfs.ls", demo, fsc, "ls", "/")

	rootDir := filepath.Join(dir, "confinedfs")
	if err := os.Mkdir(rootDir, 0o755); err != nil {
		return err
	}
	cfs, err := confinedfs.New(rootDir)
	if err != nil {
		return err
	}
	defer cfs.Close()
	fsc = wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(cfs, "/")
	run("confinedfs.write", demo, fsc, "write", "/g.txt", "via", "confinedfs")
	run("confinedfs.cat", demo, fsc, "cat", "/g.txt")
	run("confinedfs.ls", demo, fsc, "ls", "/")
	return nil
}

// stdio are the pipes of the demo's stdin and stdout. The worker opens
// its guest's stdio (containerd's FIFOs) before it locks down, so they are
// made before the lock-down here too.
type stdio struct {
	inR, inW, outR, outW *os.File
}

func newStdio() (*stdio, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &stdio{inR, inW, outR, outW}, nil
}

// pipes runs the demo's cat with stdin and stdout on pipes.
func pipes(ctx context.Context, res results, rt wazero.Runtime, demo wazero.CompiledModule, p *stdio) {
	defer p.inR.Close()
	defer p.outR.Close()
	go func() {
		_, _ = p.inW.Write([]byte("piped\n"))
		p.inW.Close()
	}()
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		_, _ = b.ReadFrom(p.outR)
		got <- b.String()
	}()
	cfg := wazero.NewModuleConfig().WithName("").WithArgs("demo", "cat").
		WithStdin(p.inR).WithStdout(p.outW).WithStderr(p.outW)
	_, err := rt.InstantiateModule(ctx, demo, cfg)
	p.outW.Close()
	res["pipes.err"] = fmt.Sprint(err)
	res["pipes.stdout"] = <-got
}
