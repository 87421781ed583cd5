// Package wasisock hands a module the TCP listeners its runtime opened
// (package listen) as WASI preview 1 preopened sockets, and provides the
// two WASI functions wazero's own cannot serve them with:
//
//   - sock_accept: wazero's accepts only on listeners it opened itself from
//     a host:port (experimental/sock), in the calling thread's network
//     namespace and with socket() and bind() allowed, which neither the
//     daemon's goroutines nor a confined worker may rely on;
//   - poll_oneoff: wazero's acknowledges every subscription on a
//     non-blocking descriptor at once without polling it, and then sleeps
//     the whole clock timeout, so Go's net/http (which waits for its
//     sockets in poll_oneoff) never answers. This one waits in ppoll(2) on
//     the sockets, the clock, and an eventfd a kill writes to.
//
// The listeners are the descriptors right after the preopened directories,
// in the order of the container's ports (docs/configuration.md). Every
// other WASI function is wazero's (its function exporter); sock_recv,
// sock_send, sock_shutdown, fd_read, fd_write, fd_close and
// fd_fdstat_{get,set_flags} work on these sockets through their sys.File
// methods.
//
// wazero has no public way to put a file into a module's descriptor table
// or to look one up from a host function, so this package reaches the
// table through reflection on exported names only (ModuleInstance.Sys,
// Context.FS, FSContext.LookupFile and OpenFile). TestReflectionHolds pins
// that against the wazero version in go.mod (so do engine's TestServe tests); docs/RATIONALE.md ("Why does
// the runtime open the listeners, and not wazero?") says what small wazero
// API would replace it.
package wasisock

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sync"

	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"golang.org/x/sys/unix"
)

type listenersKey struct{}
type setKey struct{}

// WithListeners returns ctx carrying the listening sockets a module is
// to get; engine.Instantiate attaches them. The files stay the caller's:
// they are closed when the module closes them or ends, and the caller
// closes them again (harmlessly) when it releases the process.
func WithListeners(ctx context.Context, files []*os.File) context.Context {
	if len(files) == 0 {
		return ctx
	}
	return context.WithValue(ctx, listenersKey{}, files)
}

// Listeners are the sockets WithListeners put in ctx.
func Listeners(ctx context.Context) []*os.File {
	f, _ := ctx.Value(listenersKey{}).([]*os.File)
	return f
}

// Set is one module instance's sockets: its listeners, and the eventfd
// that wakes every wait of the module when its context ends (a kill).
type Set struct {
	listeners []*os.File
	wake      int
	stop      func() bool

	// live are the open sockets, which a kill shuts down: a guest in
	// blocking mode waits in the kernel's accept, read or write (one
	// system call, as a native program), and shutdown(2) ends that wait.
	mu    sync.Mutex
	live  map[*sock]struct{}
	woken bool

	fsc    reflect.Value // *sys.FSContext of the module
	lookup reflect.Value // fsc.LookupFile
	open   reflect.Value // fsc.OpenFile
}

// NewSet makes the Set for a module that runs with ctx and gets files.
// Close it once the module has ended.
func NewSet(ctx context.Context, files []*os.File) (*Set, error) {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	s := &Set{listeners: files, wake: wake, live: map[*sock]struct{}{}}
	s.stop = context.AfterFunc(ctx, s.Wake)
	return s, nil
}

// Context returns ctx carrying s, for the calls into the module.
func (s *Set) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, setKey{}, s)
}

// Wake ends every wait of the module in poll_oneoff, sock_accept or a
// blocking read or write, for good: the module is being killed.
func (s *Set) Wake() {
	var one = [8]byte{1}
	unix.Write(s.wake, one[:]) //nolint:errcheck // only EAGAIN (already woken)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.woken = true
	for k := range s.live {
		unix.Shutdown(k.fd, unix.SHUT_RDWR) //nolint:errcheck // best effort: the module is closing
	}
}

// add registers k as open (shut down at once when the module is being
// killed already).
func (s *Set) add(k *sock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[k] = struct{}{}
	if s.woken {
		unix.Shutdown(k.fd, unix.SHUT_RDWR) //nolint:errcheck
	}
}

// remove forgets k and closes it with closeFn, under the lock a kill's
// shutdowns take, so no shutdown reaches a descriptor number reused.
func (s *Set) remove(k *sock, closeFn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, k)
	return closeFn()
}

// isWoken reports whether the module is being killed.
func (s *Set) isWoken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.woken
}

// Close releases the eventfd and closes the listeners (the module's
// table closed them already when it ended normally).
func (s *Set) Close() {
	s.stop()
	unix.Close(s.wake)
	for _, f := range s.listeners {
		f.Close()
	}
}

func setOf(ctx context.Context) *Set {
	s, _ := ctx.Value(setKey{}).(*Set)
	return s
}

// Attach puts the listeners into mod's descriptor table, in order, and
// returns their descriptors: the lowest free ones, which right after
// instantiation are those after stdio and the preopened directories.
func (s *Set) Attach(mod api.Module) ([]int32, error) {
	fsc, err := fsContext(mod)
	if err != nil {
		return nil, err
	}
	s.fsc, s.lookup, s.open = fsc, fsc.MethodByName("LookupFile"), fsc.MethodByName("OpenFile")
	if !s.lookup.IsValid() || !s.open.IsValid() {
		return nil, errors.New("wasisock: wazero's FSContext has no LookupFile or OpenFile")
	}
	var fds []int32
	for _, f := range s.listeners {
		hostFd, err := rawFd(f)
		if err != nil {
			return nil, fmt.Errorf("wasisock: listener: %w", err)
		}
		l := &listener{sock: sock{fd: hostFd, set: s}, f: f}
		s.add(&l.sock)
		fd, errno := s.insert(l)
		if errno != 0 {
			return nil, fmt.Errorf("wasisock: insert listener: %w", errno)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// rawFd is f's descriptor, made blocking as the guest first sees it.
// Not f.Fd(): that would also change how os.File uses it.
func rawFd(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := rc.Control(func(u uintptr) { fd = int(u) }); err != nil {
		return -1, err
	}
	return fd, unix.SetNonblock(fd, false)
}

// fsContext is mod.(*wasm.ModuleInstance).Sys.FS(), reached by reflection.
func fsContext(mod api.Module) (reflect.Value, error) {
	v := reflect.ValueOf(mod)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("wasisock: module is a %T, not wazero's *ModuleInstance", mod)
	}
	sys := v.Elem().FieldByName("Sys")
	if !sys.IsValid() || sys.Kind() != reflect.Pointer || sys.IsNil() {
		return reflect.Value{}, errors.New("wasisock: module has no Sys context")
	}
	m := sys.MethodByName("FS")
	if !m.IsValid() {
		return reflect.Value{}, errors.New("wasisock: wazero's Sys context has no FS method")
	}
	return m.Call(nil)[0], nil
}

// lookupFile is fsc.LookupFile(fd).File.
func (s *Set) lookupFile(fd int32) (experimentalsys.File, bool) {
	out := s.lookup.Call([]reflect.Value{reflect.ValueOf(fd)})
	if !out[1].Bool() {
		return nil, false
	}
	f, ok := out[0].Elem().FieldByName("File").Interface().(experimentalsys.File)
	return f, ok
}

// insert is fsc.OpenFile on a file system that opens f.
func (s *Set) insert(f experimentalsys.File) (int32, experimentalsys.Errno) {
	var one experimentalsys.FS = oneFile{f: f}
	out := s.open.Call([]reflect.Value{reflect.ValueOf(&one).Elem(), reflect.ValueOf("socket"),
		reflect.ValueOf(experimentalsys.Oflag(0)), reflect.ValueOf(fs.FileMode(0))})
	errno, _ := out[1].Interface().(experimentalsys.Errno)
	return int32(out[0].Int()), errno
}

// oneFile is a file system whose only use is to hand f to OpenFile.
type oneFile struct {
	experimentalsys.UnimplementedFS
	f experimentalsys.File
}

func (o oneFile) OpenFile(string, experimentalsys.Oflag, fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	return o.f, 0
}
