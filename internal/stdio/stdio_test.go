//go:build linux

package stdio_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/fifos"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
)

// wait bounds how long a test waits for something that must happen; it is
// a deadlock guard, not a performance expectation.
const wait = 10 * time.Second

func mkfifo(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatalf("mkfifo %s: %v", p, err)
	}
	return p
}

// openReader opens the read side of an output fifo the way containerd does
// before it creates a task.
func openReader(t *testing.T, p string) io.ReadCloser {
	t.Helper()
	r, err := fifo.OpenFifo(context.Background(), p, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatalf("open reader %s: %v", p, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// openWriter opens the write side of the stdin fifo, as containerd does.
func openWriter(t *testing.T, p string) io.WriteCloser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w, err := fifo.OpenFifo(ctx, p, syscall.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open writer %s: %v", p, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func open(t *testing.T, stdin, stdout, stderr string) *stdio.Set {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := fifos.Open(ctx, stdin, stdout, stderr)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type result struct {
	b   []byte
	n   int
	err error
}

// readAsync runs fn in a goroutine; the returned function waits for it.
func readAsync(t *testing.T, fn func() result) func() result {
	ch := make(chan result, 1)
	go func() { ch <- fn() }()
	return func() result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(wait):
			t.Fatal("read did not return")
			return result{}
		}
	}
}

func TestOpenOutput(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr bool
	}{
		{"stdout and stderr", true, true},
		{"stdout only", true, false},
		{"stderr only", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var outPath, errPath string
			var outR, errR io.Reader
			if tc.stdout {
				outPath = mkfifo(t, dir, "stdout")
				outR = openReader(t, outPath)
			}
			if tc.stderr {
				errPath = mkfifo(t, dir, "stderr")
				errR = openReader(t, errPath)
			}
			s := open(t, "", outPath, errPath)

			for _, o := range []struct {
				w    io.Writer
				r    io.Reader
				msg  string
				name string
			}{{s.Stdout, outR, "to stdout\n", "stdout"}, {s.Stderr, errR, "to stderr\n", "stderr"}} {
				n, err := o.w.Write([]byte(o.msg))
				if err != nil || n != len(o.msg) {
					t.Fatalf("%s: Write = %d, %v", o.name, n, err)
				}
				if o.r == nil {
					if o.w != io.Discard {
						t.Errorf("%s: no path, writer %T, want io.Discard", o.name, o.w)
					}
					continue
				}
				got := make([]byte, len(o.msg))
				if _, err := io.ReadFull(o.r, got); err != nil {
					t.Fatalf("%s: read: %v", o.name, err)
				}
				if string(got) != o.msg {
					t.Errorf("%s: read %q, want %q", o.name, got, o.msg)
				}
			}
			if n, err := s.Stdin.Read(make([]byte, 8)); n != 0 || err != io.EOF {
				t.Errorf("Stdin without a path: Read = %d, %v, want 0, EOF", n, err)
			}

			// Close ends the streams: the readers see EOF.
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for _, r := range []io.Reader{outR, errR} {
				if r == nil {
					continue
				}
				rest := readAsync(t, func() result {
					b, err := io.ReadAll(r)
					return result{b: b, err: err}
				})()
				if rest.err != nil || len(rest.b) != 0 {
					t.Errorf("reader after Close: %q, %v, want EOF", rest.b, rest.err)
				}
			}
		})
	}
}

func TestStdin(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
	}{
		{"one write", []string{"hello\n"}},
		{"several writes", []string{"a", "bc", "def\n"}},
		{"nothing", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mkfifo(t, t.TempDir(), "stdin")
			s := open(t, in, "", "")
			w := openWriter(t, in)
			var want string
			for _, p := range tc.writes {
				if _, err := io.WriteString(w, p); err != nil {
					t.Fatal(err)
				}
				want += p
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r := readAsync(t, func() result {
				b, err := io.ReadAll(s.Stdin)
				return result{b: b, err: err}
			})()
			if r.err != nil {
				t.Fatalf("ReadAll(Stdin): %v", r.err)
			}
			if string(r.b) != want {
				t.Errorf("Stdin read %q, want %q", r.b, want)
			}
		})
	}
}

// TestStdinReadBeforeWriter checks a Read started before containerd opens
// the write side waits for the input rather than seeing EOF.
func TestStdinReadBeforeWriter(t *testing.T) {
	in := mkfifo(t, t.TempDir(), "stdin")
	s := open(t, in, "", "")
	read := readAsync(t, func() result {
		b := make([]byte, 16)
		n, err := s.Stdin.Read(b)
		return result{b: b[:n], n: n, err: err}
	})
	time.Sleep(20 * time.Millisecond) // let the read start first
	w := openWriter(t, in)
	if _, err := io.WriteString(w, "late"); err != nil {
		t.Fatal(err)
	}
	r := read()
	if r.n == 0 && r.err == io.EOF {
		t.Fatal("stdin read EOF before any writer opened the fifo: input written later would be lost")
	}
	if r.err != nil || string(r.b) != "late" {
		t.Errorf("Read = %q, %v, want \"late\"", r.b, r.err)
	}
}

func TestCloseStdin(t *testing.T) {
	tests := []struct {
		name string
		// writer opens the write side first; data is then written to it.
		writer bool
		data   string
	}{
		{name: "no writer yet"},
		{name: "writer open, no data", writer: true},
		{name: "after some data", writer: true, data: "partial"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mkfifo(t, t.TempDir(), "stdin")
			s := open(t, in, "", "")
			if tc.writer {
				w := openWriter(t, in)
				if tc.data != "" {
					if _, err := io.WriteString(w, tc.data); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(tc.data))
					if _, err := io.ReadFull(s.Stdin, got); err != nil || string(got) != tc.data {
						t.Fatalf("Stdin read %q, %v, want %q", got, err, tc.data)
					}
				}
			}
			// The writer stays open: only CloseStdin can end this read.
			blocked := readAsync(t, func() result {
				n, err := s.Stdin.Read(make([]byte, 16))
				return result{n: n, err: err}
			})
			time.Sleep(20 * time.Millisecond) // let the read block; either order must give EOF
			if err := s.CloseStdin(); err != nil {
				t.Fatalf("CloseStdin: %v", err)
			}
			if r := blocked(); r.n != 0 || r.err != io.EOF {
				t.Errorf("blocked Read after CloseStdin = %d, %v, want 0, io.EOF", r.n, r.err)
			}
			if n, err := s.Stdin.Read(make([]byte, 16)); n != 0 || err != io.EOF {
				t.Errorf("later Read = %d, %v, want 0, io.EOF", n, err)
			}
			if err := s.CloseStdin(); err != nil {
				t.Errorf("second CloseStdin: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close after CloseStdin: %v", err)
			}
		})
	}
}

// TestCloseStdinKeepsBuffered checks input already in the fifo when
// CloseStdin is called is still read, then EOF, as CloseStdin documents.
func TestCloseStdinKeepsBuffered(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		closeWriter bool
	}{
		{name: "writer still open", data: "buffered input\n"},
		{name: "writer closed", data: "buffered input\n", closeWriter: true},
		{name: "large", data: strings.Repeat("x", 16<<10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mkfifo(t, t.TempDir(), "stdin")
			s := open(t, in, "", "")
			w := openWriter(t, in)
			if _, err := io.WriteString(w, tc.data); err != nil {
				t.Fatal(err)
			}
			if tc.closeWriter {
				w.Close()
			}
			if err := s.CloseStdin(); err != nil {
				t.Fatalf("CloseStdin: %v", err)
			}
			r := readAsync(t, func() result {
				b, err := io.ReadAll(s.Stdin)
				return result{b: b, err: err}
			})()
			if r.err != nil {
				t.Fatalf("ReadAll: %v", r.err)
			}
			if string(r.b) != tc.data {
				t.Errorf("read %d bytes %.20q, want %d bytes %.20q", len(r.b), r.b, len(tc.data), tc.data)
			}
		})
	}
}

func TestOpenEmpty(t *testing.T) {
	s, err := fifos.Open(context.Background(), "", "", "")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for range 2 {
		if n, err := s.Stdin.Read(make([]byte, 4)); n != 0 || err != io.EOF {
			t.Errorf("Stdin.Read = %d, %v, want 0, io.EOF", n, err)
		}
	}
	for name, w := range map[string]io.Writer{"stdout": s.Stdout, "stderr": s.Stderr} {
		if n, err := w.Write([]byte("dropped")); n != 7 || err != nil {
			t.Errorf("%s.Write = %d, %v, want 7, nil", name, n, err)
		}
	}
	if err := s.CloseStdin(); err != nil {
		t.Errorf("CloseStdin: %v", err)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestCloseIdempotent(t *testing.T) {
	dir := t.TempDir()
	in, out, errp := mkfifo(t, dir, "in"), mkfifo(t, dir, "out"), mkfifo(t, dir, "err")
	openReader(t, out)
	openReader(t, errp)
	s := open(t, in, out, errp)
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, err := s.Stdout.Write([]byte("x")); err == nil {
		t.Error("Write to stdout after Close succeeded")
	}
	if n, err := s.Stdin.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Stdin.Read after Close = %d, %v, want 0, io.EOF", n, err)
	}
}

// TestCloseStdinAfterClose checks CloseIO on a task whose module already
// exited (its Set closed) is not an error.
func TestCloseStdinAfterClose(t *testing.T) {
	in := mkfifo(t, t.TempDir(), "stdin")
	s := open(t, in, "", "")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := s.CloseStdin()
	if err != nil && (errors.Is(err, os.ErrClosed) || strings.Contains(err.Error(), "use of closed file")) {
		t.Fatalf("CloseStdin after Close returned %q, want nil", err)
	}
	if err != nil {
		t.Errorf("CloseStdin after Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("not a fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name                  string
		stdin, stdout, stderr string
		bad                   string // the path the error must name
		notFifo               bool   // see the report: Open does not check the file type
	}{
		{name: "missing stdin", stdin: missing, bad: missing},
		{name: "missing stdout", stdout: missing, bad: missing},
		{name: "missing stderr", stderr: missing, bad: missing},
		{name: "stdout is a directory", stdout: subdir, bad: subdir},
		{name: "stdin is a regular file", stdin: regular, bad: regular},
		{name: "stdout is a regular file", stdout: regular, bad: regular, notFifo: true},
		{name: "stdin is a directory", stdin: subdir, bad: subdir},
		{name: "stderr is a regular file", stderr: regular, bad: regular, notFifo: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			s, err := fifos.Open(ctx, tc.stdin, tc.stdout, tc.stderr)
			if err == nil {
				s.Close()
				if tc.notFifo {
					t.Fatalf("Open accepted %s, which is not a fifo", tc.bad)
				}
				t.Fatalf("Open(%q, %q, %q) succeeded, want an error", tc.stdin, tc.stdout, tc.stderr)
			}
			if s != nil {
				t.Errorf("Open returned a Set with an error")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %q does not wrap ErrInvalidArgument", err)
			}
			if !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("error %q does not name %s", err, tc.bad)
			}
		})
	}
}

// TestOpenErrorClosesOpened checks a failure on stderr closes the stdin and
// stdout fifos Open had already opened.
func TestOpenErrorClosesOpened(t *testing.T) {
	dir := t.TempDir()
	in, out := mkfifo(t, dir, "in"), mkfifo(t, dir, "out")
	outR := openReader(t, out)
	missing := filepath.Join(dir, "missing-stderr")
	_, err := fifos.Open(context.Background(), in, out, missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open: err = %v, want an error naming %s", err, missing)
	}
	r := readAsync(t, func() result {
		b, err := io.ReadAll(outR)
		return result{b: b, err: err}
	})()
	if r.err != nil || len(r.b) != 0 {
		t.Errorf("stdout reader after a failed Open: %q, %v, want EOF", r.b, r.err)
	}
	// stdin was closed too: a writer finds no reader.
	w, err := os.OpenFile(in, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		w.Close()
		t.Error("stdin fifo still has a reader after a failed Open")
	} else if !errors.Is(err, syscall.ENXIO) {
		t.Errorf("open stdin for writing: %v, want ENXIO", err)
	}
}

// TestOpenNoReader checks Open gives up on an output fifo nobody reads when
// its context ends.
func TestOpenNoReader(t *testing.T) {
	tests := []struct {
		name   string
		stdout bool
	}{
		{"stdout", true},
		{"stderr", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := mkfifo(t, dir, tc.name)
			in := mkfifo(t, dir, "stdin")
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			var s *stdio.Set
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				if tc.stdout {
					s, err = fifos.Open(ctx, in, p, "")
				} else {
					s, err = fifos.Open(ctx, in, "", p)
				}
			}()
			select {
			case <-done:
			case <-time.After(wait):
				t.Fatal("Open ignored its context")
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded with no reader on the fifo")
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), p) {
				t.Errorf("error %q: want ErrInvalidArgument naming %s", err, p)
			}
			// The stdin fifo opened before was closed.
			if w, err := os.OpenFile(in, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
				t.Error("stdin fifo still has a reader after a failed Open")
			}
		})
	}
}
