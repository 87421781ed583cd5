// Command wasm-sandboxer is a containerd sandboxer for WebAssembly (WASI
// preview 1) workloads: it serves containerd's Sandbox Controller API over
// gRPC and, per sandbox, the task API v3 over ttrpc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/log"
	"google.golang.org/grpc"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/inprocess"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/compcache"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/logsetup"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpcerr"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/rpclog"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/runtimebin"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/status"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/version"
	"github.com/wasm-sandboxer/wasm-sandboxer/podserver"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/goroutine"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
)

type options struct {
	listen            string
	stateDir          string
	logLevel          string
	logFormat         string
	metricsAddress    string
	containerdAddress string
	compileCacheSize  int64
	workerBinary      string
	workerPoolSize    int
	workerPoolIdle    time.Duration
	forkedSandboxer   string
	showVersion       bool
}

// runtimeBinaryRole is the hidden subcommand containerd-shim-wasm-v1
// hands its calls to (package runtimebin).
const runtimeBinaryRole = "runtime-binary"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case podserver.Role:
			os.Exit(podserver.Main(os.Args[2:], podServerContainerd))
		case "status":
			os.Exit(statusMain(os.Args[2:]))
		case "label-node":
			os.Exit(labelNodeMain(os.Args[2:]))
		case runtimeBinaryRole:
			runtimebin.Main(os.Args[2:])
			os.Exit(0)
		}
	}
	var o options
	fs := flag.NewFlagSet("wasm-sandboxer", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", sandboxapi.DefaultSocket, "unix socket serving the Sandbox Controller API (gRPC)")
	fs.StringVar(&o.stateDir, "state-dir", "/run/wasm-sandboxer", "directory for sandbox state and task sockets")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.metricsAddress, "metrics-address", "", "host:port serving Prometheus metrics on /metrics (off when empty)")
	fs.StringVar(&o.containerdAddress, "containerd-address", "/run/containerd/containerd.sock", "containerd's gRPC socket; task events go to <address>.ttrpc")
	fs.Int64Var(&o.compileCacheSize, "compile-cache-size", 1<<30, "bytes of compiled code kept on disk under <state-dir>/compile-cache")
	fs.StringVar(&o.workerBinary, "worker-binary", "", "wasm-sandboxer-worker executable for the forked runtime (default: next to this binary; the forked runtime is off when there is none)")
	fs.IntVar(&o.workerPoolSize, "worker-pool-size", 2, "idle, already confined workers kept per forked pod (0: start one per task)")
	fs.DurationVar(&o.workerPoolIdle, "worker-pool-idle", 30*time.Second, "end a forked pod's idle workers once its pool has not been drawn from for this long (0: keep them)")
	fs.StringVar(&o.forkedSandboxer, "forked-sandboxer", "wasm-forked", "containerd sandboxer (proxy_plugins) name whose pods run in the forked runtime")
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	if o.showVersion {
		fmt.Printf("wasm-sandboxer %s\n", version.Version)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. It tells systemd (sd_notify READY=1) once
// the controller socket and the metrics listener accept connections.
func run(ctx context.Context, o options) error {
	if err := logsetup.Setup(o.logLevel, o.logFormat); err != nil {
		return err
	}
	started := time.Now()
	ctx = log.WithLogger(ctx, log.G(ctx).WithField("pid", os.Getpid()))
	m := metrics.New(metrics.RuntimeGoroutine)
	remotes := metrics.NewRemotes()

	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	// Compiled code outlives restarts: <state-dir>/compile-cache, verified
	// entry by entry before use and bounded in size.
	cc, err := compcache.Open(ctx, filepath.Join(o.stateDir, "compile-cache"), o.compileCacheSize)
	if err != nil {
		return fmt.Errorf("--compile-cache-size: %w", err)
	}
	defer cc.Close()
	rt, err := goroutine.New(ctx, goroutine.WithCompilationCache(cc.CompilationCache()), goroutine.WithAfterCompile(func() {
		if err := cc.Sweep(ctx); err != nil {
			log.G(ctx).WithError(err).Warn("compile cache sweep")
		}
	}))
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	m.CompileCache(rt.CacheStats)
	pub, images, closeClients, err := containerdClients(o.containerdAddress)
	if err != nil {
		return err
	}
	defer closeClients()
	pods, err := newForked(ctx, o, remotes)
	if err != nil {
		return err
	}
	go sweepCache(ctx, cc)
	ctrl, err := sandboxer.New(ctx, hostingConfig(o, pods, inprocess.Hosting{Runtime: rt, Publisher: m.Publisher(pub),
		Images: images, Endpoint: []endpoint.Option{endpoint.WithInterceptors(m.TTRPCInterceptor)}}))
	if err != nil {
		return err
	}
	registerDaemonMetrics(m, ctrl, remotes)

	ln, err := listen(o.listen)
	if err != nil {
		return err
	}
	var mln net.Listener
	metricsAddr := ""
	if o.metricsAddress != "" {
		if mln, err = net.Listen("tcp", o.metricsAddress); err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-address: %w", err)
		}
		metricsAddr = mln.Addr().String()
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(rpclog.GRPC, m.GRPCInterceptor(runtimeOf(ctrl)), rpcerr.GRPCInterceptor))
	api.RegisterControllerServer(srv, ctrl)
	status.Register(srv, func(ctx context.Context) (status.Report, error) {
		return report(ctx, ctrl, o, pods != nil, remotes, cc, started, metricsAddr), nil
	})
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if mln != nil {
		hsrv := &http.Server{Handler: metricsMux(m, remotes), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- hsrv.Serve(mln) }()
		defer hsrv.Close()
	}
	log.G(ctx).WithFields(log.Fields{"listen": o.listen, "state-dir": o.stateDir, "metrics-address": metricsAddr,
		"version": version.Version}).Info("wasm-sandboxer serving")
	notifyReady(ctx)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.G(ctx).Info("shutting down")
	// End the goroutine-mode modules first (137, "wasm-sandboxer stopped"):
	// containerd's pending task Waits are answered over live connections,
	// which stay up until the process exits (closing them first raced those
	// answers). Then answer the blocking Controller Waits, so the gRPC
	// graceful stop is quick.
	rt.Close(context.Background())
	time.Sleep(100 * time.Millisecond) // let the task answers reach containerd
	ctrl.StopWaits()
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		srv.Stop() // a request that does not finish must not hold the stop
	}
	os.Remove(o.listen)
	return nil
}

// sweepCache records, now and then, the compiled code pod servers added to
// the cache (the daemon's own compiles sweep after each), so it is bounded
// and survives the next restart.
func sweepCache(ctx context.Context, cc *compcache.Cache) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := cc.Sweep(ctx); err != nil {
				log.G(ctx).WithError(err).Warn("compile cache sweep")
			}
		}
	}
}

// hostingConfig is the controller's configuration: goroutine-mode
// sandboxes run in the daemon, forked ones in pod servers (pods, nil when
// there is no worker binary).
func hostingConfig(o options, pods *forkedHosting, local inprocess.Hosting) sandboxer.Config {
	cfg := sandboxer.Config{StateDir: o.stateDir,
		Hosts:      map[sandboxer.Mode]sandboxer.Hosting{sandboxer.ModeGoroutine: local},
		Unhosted:   map[sandboxer.Mode]string{},
		Sandboxers: map[string]sandboxer.Mode{}}
	if pods != nil {
		cfg.Hosts[sandboxer.ModeForked] = *pods
	} else {
		cfg.Unhosted[sandboxer.ModeForked] = "no worker binary; see --worker-binary"
	}
	if o.forkedSandboxer != "" {
		cfg.Sandboxers[o.forkedSandboxer] = sandboxer.ModeForked
	}
	return cfg
}

// newForked returns what hosts forked pods, or nil when there is no worker
// binary (an explicit --worker-binary that is not there is an error).
func newForked(ctx context.Context, o options, remotes *metrics.Remotes) (*forkedHosting, error) {
	bin := o.workerBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = filepath.Join(filepath.Dir(exe), "wasm-sandboxer-worker")
		if _, err := os.Stat(bin); err != nil {
			log.G(ctx).WithField("worker-binary", bin).Warn("no worker binary: the forked runtime is off")
			return nil, nil
		}
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("--worker-binary %q is not an executable file", bin)
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, fmt.Errorf("--worker-binary: %w", err)
	}
	// What pod servers noted as compiled held for the cache as it was;
	// opening it may have dropped entries.
	memo := compiledMemoDir(o.stateDir)
	if err := os.RemoveAll(memo); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(memo, 0o700); err != nil {
		return nil, err
	}
	pods := newForkedHosting(o, abs, remotes)
	return &pods, nil
}

// compiledMemoDir is where pod servers note the modules they compiled into
// the compile cache (forked.Remembered), so other pods skip that compile.
func compiledMemoDir(stateDir string) string { return filepath.Join(stateDir, "compiled-modules") }

// listen opens the controller socket, refusing to steal it from a daemon
// that is still serving it.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("--listen %s: another process is serving this socket", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("--listen: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--listen: %w", err)
	}
	return ln, nil
}
