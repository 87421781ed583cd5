package wasisock

import (
	"context"
	"encoding/binary"
	"reflect"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"golang.org/x/sys/unix"
)

// Export adds wazero's WASI preview 1 functions to b, with sock_accept
// and poll_oneoff replaced by this package's.
func Export(b wazero.HostModuleBuilder) {
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(sockAccept), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "flags", "result.fd").
		Export("sock_accept")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(pollOneoff), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		Export("poll_oneoff")
}

// WASI preview 1 values (wasi_snapshot_preview1 witx).
const (
	eventClock   = 0
	eventFdRead  = 1
	eventFdWrite = 2

	fdflagNonblock = 1 << 2
	rwflagHangup   = 1

	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNotsup  = 58
)

var le = binary.LittleEndian

// wasiErrno is the WASI number of an errno of experimental/sys.
func wasiErrno(e experimentalsys.Errno) uint32 {
	switch e {
	case 0:
		return errnoSuccess
	case experimentalsys.EACCES:
		return 2
	case experimentalsys.EAGAIN:
		return 6
	case experimentalsys.EBADF:
		return errnoBadf
	case experimentalsys.EEXIST:
		return 20
	case experimentalsys.EFAULT:
		return errnoFault
	case experimentalsys.EINTR:
		return 27
	case experimentalsys.EINVAL:
		return errnoInval
	case experimentalsys.EISDIR:
		return 31
	case experimentalsys.ENOENT:
		return 44
	case experimentalsys.ENOSYS:
		return 52
	case experimentalsys.ENOTDIR:
		return 54
	case experimentalsys.ENOTSOCK:
		return 57
	case experimentalsys.ENOTSUP:
		return errnoNotsup
	case experimentalsys.EPERM:
		return 63
	}
	return 29 // EIO
}

func ret(stack []uint64, e experimentalsys.Errno) { stack[0] = uint64(wasiErrno(e)) }

// sockAccept is sock_accept(fd, flags, result.fd) on this package's
// listeners.
func sockAccept(ctx context.Context, mod api.Module, stack []uint64) {
	fd, flags, resultFd := int32(stack[0]), uint32(stack[1]), uint32(stack[2])
	s := setOf(ctx)
	if s == nil || !s.lookup.IsValid() {
		ret(stack, experimentalsys.EBADF) // no listeners were given
		return
	}
	f, ok := s.lookupFile(fd)
	l, isListener := f.(*listener)
	if !ok || !isListener {
		ret(stack, experimentalsys.EBADF)
		return
	}
	c, errno := l.accept(flags&fdflagNonblock != 0)
	if errno != 0 {
		ret(stack, errno)
		return
	}
	nfd, errno := s.insert(c)
	if errno != 0 {
		c.Close()
		ret(stack, errno)
		return
	}
	if !mod.Memory().WriteUint32Le(resultFd, uint32(nfd)) {
		ret(stack, experimentalsys.EFAULT)
		return
	}
	ret(stack, 0)
}

// table is the lookup of a module's descriptors: the Set's, or one made
// for this call for a module without sockets.
func table(ctx context.Context, mod api.Module) *Set {
	if s := setOf(ctx); s != nil && s.lookup.IsValid() {
		return s
	}
	fsc, err := fsContext(mod)
	if err != nil {
		return nil
	}
	return &Set{fsc: fsc, lookup: fsc.MethodByName("LookupFile"), wake: -1}
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, result.nevents).
// Subscriptions on this package's sockets really wait (ppoll); other
// descriptors are as in wazero: ready at once when non-blocking, blocking
// stdin waits for input; a clock alone sleeps with the module's
// nanosleep.
func pollOneoff(ctx context.Context, mod api.Module, stack []uint64) {
	in, out, nsubs, resultNevents := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if nsubs == 0 {
		ret(stack, experimentalsys.EINVAL)
		return
	}
	mem := mod.Memory()
	inBuf, ok := mem.Read(in, nsubs*48)
	if !ok {
		ret(stack, experimentalsys.EFAULT)
		return
	}
	outBuf, ok := mem.Read(out, nsubs*32)
	if !ok {
		ret(stack, experimentalsys.EFAULT)
		return
	}
	clear(outBuf)
	t := table(ctx, mod)
	if t == nil {
		ret(stack, experimentalsys.ENOSYS)
		return
	}

	var (
		nevents    uint32
		timeout    = time.Duration(-1) // the shortest clock; -1: none
		waits      []waiting
		pfds       []unix.PollFd
		stdinWaits []waiting
	)
	emit := func(userData []byte, typ byte, errno uint16, flags uint16) {
		o := outBuf[nevents*32:]
		copy(o, userData)
		le.PutUint16(o[8:], errno)
		o[10] = typ
		if typ != eventClock && errno == 0 {
			le.PutUint64(o[16:], 1) // nbytes: unknown, at least one
			le.PutUint16(o[24:], flags)
		}
		nevents++
	}
	for i := uint32(0); i < nsubs; i++ {
		sub := inBuf[i*48 : i*48+48]
		userData, typ, arg := sub[0:8], sub[8], sub[16:]
		switch typ {
		case eventClock:
			d := time.Duration(le.Uint64(arg[8:16]))
			switch le.Uint16(arg[24:26]) {
			case 0: // relative
			case 1: // abstime: as wazero, unsupported
				ret(stack, experimentalsys.ENOTSUP)
				return
			default:
				ret(stack, experimentalsys.EINVAL)
				return
			}
			if timeout < 0 || d < timeout {
				timeout = d
			}
			waits = append(waits, waiting{userData: userData, typ: typ, pfd: -1, timeout: d})
		case eventFdRead, eventFdWrite:
			fd := int32(le.Uint32(arg[0:4]))
			f, ok := t.lookupFile(fd)
			if !ok {
				emit(userData, typ, errnoBadf, 0)
				continue
			}
			if s, isSock := sockOf(f); isSock && t.wake >= 0 {
				ev := int16(unix.POLLIN)
				if typ == eventFdWrite {
					ev = unix.POLLOUT
				}
				waits = append(waits, waiting{userData: userData, typ: typ, pfd: len(pfds)})
				pfds = append(pfds, unix.PollFd{Fd: int32(s.fd), Events: ev})
				continue
			}
			switch {
			case typ == eventFdWrite:
				emit(userData, typ, errnoNotsup, 0) // as wazero
			case fd != 0 || isNonblock(f):
				emit(userData, typ, 0, 0)
			default: // blocking stdin: wait below
				stdinWaits = append(stdinWaits, waiting{userData: userData, typ: typ})
			}
		default:
			ret(stack, experimentalsys.EINVAL)
			return
		}
	}

	switch {
	case len(pfds) > 0:
		wait := timeout
		if nevents > 0 || len(stdinWaits) > 0 {
			wait = 0 // something is ready already: only collect the sockets
		}
		all := append(pfds, unix.PollFd{Fd: int32(t.wake), Events: unix.POLLIN})
		start := time.Now()
		if err := ppoll(all, wait); err != nil {
			ret(stack, experimentalsys.UnwrapOSError(err))
			return
		}
		elapsed := time.Since(start)
		anyFd := false
		for _, w := range waits {
			if w.pfd < 0 {
				continue
			}
			if r := all[w.pfd].Revents; r != 0 {
				var flags uint16
				if r&(unix.POLLHUP|unix.POLLERR) != 0 {
					flags = rwflagHangup
				}
				emit(w.userData, w.typ, 0, flags)
				anyFd = true
			}
		}
		if all[len(all)-1].Revents == 0 && !anyFd && nevents == 0 && timeout >= 0 {
			for _, w := range waits {
				if w.pfd < 0 && w.timeout <= max(elapsed, timeout) {
					emit(w.userData, w.typ, 0, 0)
				}
			}
		}
		if ctx.Err() != nil && nevents == 0 {
			mem.WriteUint32Le(resultNevents, 0)
			ret(stack, experimentalsys.EINTR) // killed: the module is closing
			return
		}
		for _, w := range stdinWaits {
			emit(w.userData, w.typ, 0, 0)
		}
	case len(stdinWaits) > 0 && nevents == 0:
		// As wazero: wait for stdin up to the clock, then report.
		ready := true
		if f, ok := t.lookupFile(0); ok {
			if p, ok := f.(experimentalsys.Pollable); ok {
				ms := int32(-1)
				if timeout >= 0 {
					ms = int32(timeout.Milliseconds())
				}
				r, errno := p.Poll(experimentalsys.POLLIN, ms)
				if errno != 0 {
					ret(stack, errno)
					return
				}
				ready = r
			}
		}
		if ready {
			for _, w := range stdinWaits {
				emit(w.userData, w.typ, 0, 0)
			}
		} else {
			emitClocks(waits, timeout, emit)
		}
	default:
		for _, w := range stdinWaits {
			emit(w.userData, w.typ, 0, 0)
		}
		if nevents == 0 && timeout >= 0 {
			if timeout > 0 {
				nanosleep(mod, int64(timeout))
			}
			emitClocks(waits, timeout, emit)
		}
	}
	if !mem.WriteUint32Le(resultNevents, nevents) {
		ret(stack, experimentalsys.EFAULT)
		return
	}
	ret(stack, 0)
}

// waiting is a subscription not answered yet.
type waiting struct {
	userData []byte
	typ      byte
	pfd      int // index in the ppoll set; -1 for a clock
	timeout  time.Duration
}

// emitClocks reports the clocks that expired after timeout.
func emitClocks(waits []waiting, timeout time.Duration, emit func([]byte, byte, uint16, uint16)) {
	for _, w := range waits {
		if w.pfd < 0 && w.timeout <= timeout {
			emit(w.userData, w.typ, 0, 0)
		}
	}
}

// sockOf is f as one of this package's sockets.
func sockOf(f experimentalsys.File) (*sock, bool) {
	switch f := f.(type) {
	case *listener:
		return &f.sock, true
	case *conn:
		return &f.sock, true
	}
	return nil, false
}

func isNonblock(f experimentalsys.File) bool {
	p, ok := f.(experimentalsys.PollableFile)
	return ok && p.IsNonblock()
}

// nanosleep is the module's configured nanosleep (the runtime's makes a
// kill cut it short): mod.Sys.Nanosleep, by reflection.
func nanosleep(mod api.Module, ns int64) {
	v := reflect.ValueOf(mod)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if sys := v.Elem().FieldByName("Sys"); sys.IsValid() && !sys.IsNil() {
			if m := sys.MethodByName("Nanosleep"); m.IsValid() {
				m.Call([]reflect.Value{reflect.ValueOf(ns)})
				return
			}
		}
	}
	time.Sleep(time.Duration(ns))
}
