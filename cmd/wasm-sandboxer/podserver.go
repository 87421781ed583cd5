package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/log"

	"github.com/wasm-sandboxer/wasm-sandboxer/endpoint"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/compcache"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/podserver"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/forked"
	"github.com/wasm-sandboxer/wasm-sandboxer/runtime/wazero"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// podServerRole is the first argument that makes this binary the pod
// server of one forked sandbox (started by the daemon, never by hand).
const podServerRole = "pod-server"

// podServers starts pod servers by re-executing this binary in its
// pod-server role with the daemon's settings.
type podServers struct {
	spawner podserver.Spawner
	remotes *metrics.Remotes
}

var _ sandboxer.PodServers = podServers{}

func newPodServers(o options, workerBinary string, remotes *metrics.Remotes) podServers {
	return podServers{remotes: remotes, spawner: podserver.Spawner{
		// The running binary, even when a newer one replaced it on disk.
		Binary: "/proc/self/exe",
		Name:   os.Args[0],
		Args: []string{podServerRole,
			"--log-level", o.logLevel,
			"--log-format", o.logFormat,
			"--containerd-address", o.containerdAddress,
			"--compile-cache", filepath.Join(o.stateDir, "compile-cache"),
			"--compiled-memo", compiledMemoDir(o.stateDir),
			"--worker-binary", workerBinary,
			"--worker-pool-size", strconv.Itoa(o.workerPoolSize),
			"--worker-pool-idle", o.workerPoolIdle.String(),
		},
		Stderr: os.Stderr,
	}}
}

func (p podServers) Spawn(ctx context.Context, spec sandboxer.PodSpec) (sandboxer.PodServer, error) {
	cl, err := p.spawner.Spawn(ctx, spec.Socket, "--sandbox", spec.ID, "--dir", spec.Dir, "--netns", spec.NetNS,
		"--cgroup-parent", spec.CgroupParent)
	if err != nil {
		return nil, err
	}
	return p.track(cl), nil
}

func (p podServers) Attach(ctx context.Context, socket string) (sandboxer.PodServer, error) {
	cl, err := podserver.Dial(ctx, socket)
	if err != nil {
		return nil, err
	}
	return p.track(cl), nil
}

// track adds a pod server's figures to the daemon's metrics for as long
// as the daemon is attached to it.
func (p podServers) track(cl *podserver.Client) sandboxer.PodServer {
	p.remotes.Add(cl)
	go func() {
		<-cl.Gone() // died (its figures are lost with it); nil once detached
		p.remotes.Remove(cl)
	}()
	return trackedPodServer{Client: cl, remotes: p.remotes}
}

// trackedPodServer keeps the counters of a pod server it shuts down.
type trackedPodServer struct {
	*podserver.Client
	remotes *metrics.Remotes
}

func (t trackedPodServer) Shutdown(ctx context.Context) error {
	t.remotes.Retire(ctx, t.Client)
	return t.Client.Shutdown(ctx)
}

func (t trackedPodServer) Detach() {
	t.remotes.Remove(t.Client)
	t.Client.Detach()
}

func (p podServers) Clean(_ context.Context, dir string) error { return forked.RemoveState(dir) }

type podServerOptions struct {
	sandbox, socket, dir, netns, cgroupParent string
	containerdAddress                         string
	compileCache, compiledMemo                string
	workerBinary                              string
	workerPoolSize                            int
	workerPoolIdle                            time.Duration
	logLevel, logFormat                       string
}

// podServerMain runs the pod server of one forked sandbox: its task API
// endpoint and the forked runtime of its modules, in a process that
// outlives the daemon (docs/RATIONALE.md, "Why does a forked pod have a
// process of its own?").
func podServerMain(args []string) int {
	var o podServerOptions
	fs := flag.NewFlagSet("wasm-sandboxer "+podServerRole, flag.ContinueOnError)
	fs.StringVar(&o.sandbox, "sandbox", "", "sandbox id")
	fs.StringVar(&o.socket, "socket", "", "unix socket serving the sandbox's task API")
	fs.StringVar(&o.dir, "dir", "", "working dir of the forked runtime (removed on exit)")
	fs.StringVar(&o.netns, "netns", "", "the pod's network namespace")
	fs.StringVar(&o.cgroupParent, "cgroup-parent", "", "the pod's cgroup (CRI's cgroupfs parent of its containers' cgroups)")
	fs.StringVar(&o.containerdAddress, "containerd-address", "", "containerd's gRPC socket")
	fs.StringVar(&o.compileCache, "compile-cache", "", "the daemon's compiled-code dir")
	fs.StringVar(&o.compiledMemo, "compiled-memo", "", "where pod servers note the modules they compiled (shared)")
	fs.StringVar(&o.workerBinary, "worker-binary", "", "wasm-sandboxer-worker executable")
	fs.IntVar(&o.workerPoolSize, "worker-pool-size", 2, "idle confined workers kept ready")
	fs.DurationVar(&o.workerPoolIdle, "worker-pool-idle", 0, "end idle workers once the pool has not been drawn from for this long (0: keep them)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	err := fs.Parse(args)
	if err == nil {
		for name, v := range map[string]string{"sandbox": o.sandbox, "socket": o.socket, "dir": o.dir,
			"containerd-address": o.containerdAddress, "compile-cache": o.compileCache, "worker-binary": o.workerBinary} {
			if v == "" {
				err = fmt.Errorf("--%s is required", name)
			}
		}
	}
	if err == nil {
		err = runPodServer(o)
	}
	if err != nil {
		podserver.Ready(err)
		fmt.Fprintf(os.Stderr, "wasm-sandboxer %s: %v\n", podServerRole, err)
		return 1
	}
	return 0
}

func runPodServer(o podServerOptions) (retErr error) {
	if err := setupLogs(o.logLevel, o.logFormat); err != nil {
		return err
	}
	// The daemon's stderr may be a pipe whose reader goes away with it:
	// a write then fails instead of ending the pod.
	signal.Ignore(syscall.SIGPIPE)
	sigctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx := log.WithLogger(context.Background(), log.G(context.Background()).WithFields(log.Fields{
		"pod-server": os.Getpid(), "sandbox": o.sandbox}))

	cache, err := compcache.Shared(o.compileCache)
	if err != nil {
		return err
	}
	// Workers read compiled code from the disk cache: the pod server
	// compiles a module once, to fill it, and keeps none in memory.
	rt, err := wazero.New(ctx, wazero.WithCompilationCache(cache), wazero.WithUnusedModules(0))
	if err != nil {
		return err
	}
	defer rt.Close(context.Background())
	memo := forked.Remembered(rt, o.compiledMemo)
	m := metrics.New(metrics.RuntimeForked)
	m.CompileCache(func() (hits, misses uint64) {
		h, mi := rt.CacheStats()
		return h + memo.Hits(), mi
	})
	frt, err := forked.New(forked.Config{WorkerBinary: o.workerBinary, StateDir: o.dir, CacheDir: o.compileCache,
		Compiler: memo, NetNS: o.netns, PoolSize: o.workerPoolSize,
		PoolIdle: o.workerPoolIdle, SpareParent: o.cgroupParent})
	if err != nil {
		return fmt.Errorf("forked runtime: %w", err)
	}
	m.WorkerPool(frt.Idle)
	// The runtime's workers and files go before the server: the daemon
	// waits for the connection to close to know they are gone.
	closeRuntime := sync.OnceValue(func() error {
		frt.Close()
		return forked.RemoveState(o.dir)
	})
	defer func() { retErr = errors.Join(retErr, closeRuntime()) }()
	pub, images, closeClients, err := containerdClients(o.containerdAddress)
	if err != nil {
		return err
	}
	defer closeClients()
	tasks := task.NewService(o.sandbox, frt, m.Publisher(pub), task.WithImageModules(images))
	srv, err := endpoint.Serve(ctx, o.sandbox, o.socket, tasks,
		endpoint.WithInterceptors(m.TTRPCInterceptor), endpoint.WithMetrics(m))
	if err != nil {
		return err
	}
	frt.Warm(ctx)
	podserver.Ready(nil)
	log.G(ctx).WithField("socket", o.socket).Info("pod server serving")

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
