package podserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/engine"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/compcache"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/imagemodule"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/logsetup"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/forked"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// Role is the first argument that makes the daemon's binary a pod server
// (`wasm-sandboxer pod-server SANDBOX-ID`, config on stdin): started by
// the daemon, never by hand.
const Role = "pod-server"

// Containerd opens what a pod server uses of containerd at address (the
// daemon's own opener): the task event sink and the modules of image
// layers; closeAll releases both.
type Containerd func(address string) (pub task.Publisher, images imagemodule.Source, closeAll func(), err error)

// Main runs a pod server: args are what follows Role (the sandbox id), the
// config is on stdin. It reports on the ready descriptor (Ready) and
// returns the process's exit status.
func Main(args []string, containerd Containerd) int {
	cfg, err := ReadConfig(os.Stdin)
	if err == nil && (len(args) != 1 || args[0] != cfg.Sandbox) {
		err = fmt.Errorf("arguments %q, want the config's sandbox id %q (usage: wasm-sandboxer %s SANDBOX-ID < config.json)", args, cfg.Sandbox, Role)
	}
	if err == nil {
		err = run(cfg, containerd)
	}
	if err != nil {
		Ready(err)
		fmt.Fprintf(os.Stderr, "wasm-sandboxer %s: %v\n", Role, err)
		return 1
	}
	return 0
}

// run serves the pod's task endpoint and runs its modules in the forked
// runtime until the daemon's Shutdown or a signal (docs/RATIONALE.md, "Why
// does a forked pod have a process of its own?").
func run(o Config, containerd Containerd) (retErr error) {
	if err := logsetup.Setup(o.LogLevel, o.LogFormat); err != nil {
		return err
	}
	// The daemon's stderr may be a pipe whose reader goes away with it:
	// a write then fails instead of ending the pod.
	signal.Ignore(syscall.SIGPIPE)
	sigctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx := log.WithLogger(context.Background(), log.G(context.Background()).WithFields(log.Fields{
		"pod-server": os.Getpid(), "sandbox": o.Sandbox}))

	cache, err := compcache.Shared(o.CompileCache)
	if err != nil {
		return err
	}
	// Workers read compiled code from the disk cache: the pod server
	// compiles a module once, with the workers' engine configuration, to
	// fill it, and keeps none in memory.
	compiler, err := engine.NewCompiler(ctx, cache)
	if err != nil {
		return err
	}
	defer compiler.Close(context.Background())
	memo := forked.Remembered(compiler, o.CompiledMemo)
	m := metrics.New(metrics.RuntimeForked)
	m.CompileCache(func() (hits, misses uint64) { return memo.Hits(), compiler.Compiles() })
	frt, err := forked.New(forked.Config{WorkerBinary: o.WorkerBinary, StateDir: o.Dir, CacheDir: o.CompileCache,
		Compiler: memo, NetNS: o.NetNS, PoolSize: o.WorkerPoolSize,
		PoolIdle: o.WorkerPoolIdle, SpareParent: o.CgroupParent})
	if err != nil {
		return fmt.Errorf("forked runtime: %w", err)
	}
	m.WorkerPool(frt.Idle)
	// The runtime's workers and files go before the server: the daemon
	// waits for the connection to close to know they are gone.
	closeRuntime := sync.OnceValue(func() error {
		frt.Close()
		return forked.RemoveState(o.Dir)
	})
	defer func() { retErr = errors.Join(retErr, closeRuntime()) }()
	pub, images, closeClients, err := containerd(o.ContainerdAddress)
	if err != nil {
		return err
	}
	defer closeClients()
	tasks := task.NewService(o.Sandbox, frt, m.Publisher(pub), task.WithImageModules(images),
		task.WithNetNS(o.NetNS)) // listeners in the pod's network
	srv, err := endpoint.Serve(ctx, o.Sandbox, o.Socket, tasks,
		endpoint.WithInterceptors(m.TTRPCInterceptor), endpoint.WithMetrics(m))
	if err != nil {
		return err
	}
	frt.Warm(ctx)
	Ready(nil)
	log.G(ctx).WithField("socket", o.Socket).Info("pod server serving")

	select {
	case <-srv.ShutdownRequested():
		log.G(ctx).Info("pod server shut down by the daemon")
	case <-sigctx.Done():
		log.G(ctx).Info("pod server stopping on a signal: ending its tasks")
		tasks.Close(ctx)
	}
	err = closeRuntime()
	srv.Close(ctx)
	return err
}
