// Package metrics holds the Prometheus figures of one process (the daemon,
// or a forked pod's pod server) in a registry of its own, and merges the
// pod servers' figures into the daemon's at scrape time.
//
// Tasks run in the daemon (goroutine mode) or in pod servers (forked mode);
// each process counts what it runs, labelled with its runtime, and the
// daemon's endpoint sums every process's series (docs/RATIONALE.md, "Why
// does the daemon fetch pod servers' metrics at scrape time?").
package metrics

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Runtime label values: the runtime a process runs its tasks in.
const (
	RuntimeGoroutine = "goroutine"
	RuntimeForked    = "forked"
)

// Task states as the tasks gauge reports them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StatePaused  = "paused"
	StateStopped = "stopped"
)

var taskStates = []string{StateCreated, StateRunning, StatePaused, StateStopped}

// startBuckets spans a goroutine-mode start of a tiny module (well under a
// millisecond) to a cold compile of a large one (seconds).
var startBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics are one process's figures.
type Metrics struct {
	reg     *prometheus.Registry
	runtime string

	tasks        *taskTracker
	taskStart    prometheus.Histogram // of this process's runtime
	sandboxStart *prometheus.HistogramVec
	ooms         prometheus.Counter // of this process's runtime
	rpcErrors    *prometheus.CounterVec

	mu      sync.Mutex
	created map[string]time.Time // task Create request times, by container id

	cacheStats atomic.Pointer[func() (hits, misses uint64)]
	poolIdle   atomic.Pointer[func() int]
}

// New returns the figures of a process whose tasks run in runtime
// (RuntimeGoroutine or RuntimeForked).
func New(runtime string) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		runtime: runtime,
		tasks:   newTaskTracker(),
		created: map[string]time.Time{},
		taskStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "wasm_sandboxer_task_start_seconds",
			Help:        "Time from a task API Create request to the answer of its Start: resolving, compiling (on a cache miss) and starting the module.",
			Buckets:     startBuckets,
			ConstLabels: prometheus.Labels{"runtime": runtime},
		}),
		sandboxStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasm_sandboxer_sandbox_start_seconds",
			Help:    "Duration of the Controller's Start of a sandbox (for forked pods: starting the pod server).",
			Buckets: startBuckets,
		}, []string{"runtime"}),
		ooms: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "wasm_sandboxer_task_ooms_total",
			Help:        "Tasks that hit their memory limit (TaskOOM events).",
			ConstLabels: prometheus.Labels{"runtime": runtime},
		}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasm_sandboxer_rpc_errors_total",
			Help: "Failed Controller (gRPC) and task API (ttrpc) requests, by method and gRPC status code.",
		}, []string{"method", "code"}),
	}
	m.reg.MustRegister(m.taskStart, m.sandboxStart, m.ooms, m.rpcErrors, taskCollector{m},
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wasm_sandboxer_compile_cache_hits_total", Help: "Module compilations avoided: the compiled module was in the compile cache.",
			ConstLabels: prometheus.Labels{"runtime": runtime},
		}, func() float64 { h, _ := m.cache(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "wasm_sandboxer_compile_cache_misses_total", Help: "Modules that were not in the compile cache (compiled, or read back from the on-disk cache).",
			ConstLabels: prometheus.Labels{"runtime": runtime},
		}, func() float64 { _, mi := m.cache(); return float64(mi) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wasm_sandboxer_worker_pool_idle", Help: "Idle, already confined forked workers waiting for a task, over every forked pod.",
		}, func() float64 {
			if f := m.poolIdle.Load(); f != nil {
				return float64((*f)())
			}
			return 0
		}),
	)
	return m
}

func (m *Metrics) cache() (hits, misses uint64) {
	if f := m.cacheStats.Load(); f != nil {
		return (*f)()
	}
	return 0, 0
}

// CompileCache reports the compile cache's hits and misses from stats.
func (m *Metrics) CompileCache(stats func() (hits, misses uint64)) { m.cacheStats.Store(&stats) }

// WorkerPool reports the number of idle forked workers from idle.
func (m *Metrics) WorkerPool(idle func() int) { m.poolIdle.Store(&idle) }

// Register adds collectors of the process's own (e.g. the daemon's
// sandbox counts).
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Gather returns this process's figures.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// observeSandboxStart records how long a sandbox of runtime took to start.
func (m *Metrics) observeSandboxStart(runtime string, d time.Duration) {
	m.sandboxStart.WithLabelValues(runtime).Observe(d.Seconds())
}

// Handler serves g in the Prometheus exposition formats. A pod server that
// does not answer costs its figures, not the scrape.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// GathererFunc adapts a function taking a context to a Gatherer, bounding
// each gather to timeout.
func GathererFunc(timeout time.Duration, f func(ctx context.Context) ([]*dto.MetricFamily, error)) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return f(ctx)
	})
}
