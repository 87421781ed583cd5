//go:build wasip1

package main

import "unsafe"

// Raw imports of every function wazero's wasi_snapshot_preview1 exports.
// Go's own runtime and syscall package import some of them too; these are
// separate declarations of the same host functions, so the checks call the
// host directly with exactly the arguments they choose.

type ptr = unsafe.Pointer

//go:wasmimport wasi_snapshot_preview1 args_get
func args_get(argv, buf ptr) int32

//go:wasmimport wasi_snapshot_preview1 args_sizes_get
func args_sizes_get(argc, bufLen ptr) int32

//go:wasmimport wasi_snapshot_preview1 environ_get
func environ_get(env, buf ptr) int32

//go:wasmimport wasi_snapshot_preview1 environ_sizes_get
func environ_sizes_get(n, bufLen ptr) int32

//go:wasmimport wasi_snapshot_preview1 clock_res_get
func clock_res_get(id int32, res ptr) int32

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clock_time_get(id int32, precision int64, t ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_advise
func fd_advise(fd int32, off, n int64, advice int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_allocate
func fd_allocate(fd int32, off, n int64) int32

//go:wasmimport wasi_snapshot_preview1 fd_close
func fd_close(fd int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_datasync
func fd_datasync(fd int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_fdstat_get
func fd_fdstat_get(fd int32, st ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_fdstat_set_flags
func fd_fdstat_set_flags(fd int32, flags int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_fdstat_set_rights
func fd_fdstat_set_rights(fd int32, base, inheriting int64) int32

//go:wasmimport wasi_snapshot_preview1 fd_filestat_get
func fd_filestat_get(fd int32, st ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_filestat_set_size
func fd_filestat_set_size(fd int32, size int64) int32

//go:wasmimport wasi_snapshot_preview1 fd_filestat_set_times
func fd_filestat_set_times(fd int32, atim, mtim int64, flags int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_pread
func fd_pread(fd int32, iovs ptr, n int32, off int64, nread ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_get
func fd_prestat_get(fd int32, st ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_dir_name
func fd_prestat_dir_name(fd int32, buf ptr, n int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_pwrite
func fd_pwrite(fd int32, iovs ptr, n int32, off int64, nwritten ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_read
func fd_read(fd int32, iovs ptr, n int32, nread ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_readdir
func fd_readdir(fd int32, buf ptr, n int32, cookie int64, used ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_renumber
func fd_renumber(from, to int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_seek
func fd_seek(fd int32, off int64, whence int32, newOff ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_sync
func fd_sync(fd int32) int32

//go:wasmimport wasi_snapshot_preview1 fd_tell
func fd_tell(fd int32, off ptr) int32

//go:wasmimport wasi_snapshot_preview1 fd_write
func fd_write(fd int32, iovs ptr, n int32, nwritten ptr) int32

//go:wasmimport wasi_snapshot_preview1 path_create_directory
func path_create_directory(fd int32, p ptr, n int32) int32

//go:wasmimport wasi_snapshot_preview1 path_filestat_get
func path_filestat_get(fd int32, flags int32, p ptr, n int32, st ptr) int32

//go:wasmimport wasi_snapshot_preview1 path_filestat_set_times
func path_filestat_set_times(fd int32, flags int32, p ptr, n int32, atim, mtim int64, fstflags int32) int32

//go:wasmimport wasi_snapshot_preview1 path_link
func path_link(oldFd int32, oldFlags int32, oldP ptr, oldN int32, newFd int32, newP ptr, newN int32) int32

//go:wasmimport wasi_snapshot_preview1 path_open
func path_open(fd int32, dirflags int32, p ptr, n int32, oflags int32, base, inheriting int64, fdflags int32, newFd ptr) int32

//go:wasmimport wasi_snapshot_preview1 path_readlink
func path_readlink(fd int32, p ptr, n int32, buf ptr, bufLen int32, used ptr) int32

//go:wasmimport wasi_snapshot_preview1 path_remove_directory
func path_remove_directory(fd int32, p ptr, n int32) int32

//go:wasmimport wasi_snapshot_preview1 path_rename
func path_rename(fd int32, oldP ptr, oldN int32, newFd int32, newP ptr, newN int32) int32

//go:wasmimport wasi_snapshot_preview1 path_symlink
func path_symlink(oldP ptr, oldN int32, fd int32, newP ptr, newN int32) int32

//go:wasmimport wasi_snapshot_preview1 path_unlink_file
func path_unlink_file(fd int32, p ptr, n int32) int32

//go:wasmimport wasi_snapshot_preview1 poll_oneoff
func poll_oneoff(in, out ptr, n int32, nevents ptr) int32

//go:wasmimport wasi_snapshot_preview1 proc_exit
func proc_exit(code int32)

//go:wasmimport wasi_snapshot_preview1 proc_raise
func proc_raise(sig int32) int32

//go:wasmimport wasi_snapshot_preview1 sched_yield
func sched_yield() int32

//go:wasmimport wasi_snapshot_preview1 random_get
func random_get(buf ptr, n int32) int32

//go:wasmimport wasi_snapshot_preview1 sock_accept
func sock_accept(fd int32, flags int32, newFd ptr) int32

//go:wasmimport wasi_snapshot_preview1 sock_recv
func sock_recv(fd int32, iovs ptr, n int32, flags int32, nread, oflags ptr) int32

//go:wasmimport wasi_snapshot_preview1 sock_send
func sock_send(fd int32, iovs ptr, n int32, flags int32, nwritten ptr) int32

//go:wasmimport wasi_snapshot_preview1 sock_shutdown
func sock_shutdown(fd int32, how int32) int32

// str passes a Go string as (pointer, length).
func str(s string) (ptr, int32) {
	if s == "" {
		return ptr(new(byte)), 0
	}
	return ptr(unsafe.StringData(s)), int32(len(s))
}

// iovec is WASI's ciovec/iovec on wasm32.
type iovec struct {
	buf uint32
	n   uint32
}

func iov(b []byte) *iovec {
	if len(b) == 0 {
		return &iovec{}
	}
	return &iovec{buf: uint32(uintptr(unsafe.Pointer(&b[0]))), n: uint32(len(b))}
}
