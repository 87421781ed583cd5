package main

import (
	"context"
	"net/http"
	"os"
	"time"

	"github.com/containerd/log"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/compcache"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/metrics"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/status"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/version"
	"github.com/wasm-sandboxer/wasm-sandboxer/sandboxer"
)

// notifyReady tells systemd (Type=notify) that the daemon serves. The
// variable is unset so pod servers, started later, never speak for it.
func notifyReady(ctx context.Context) {
	sent, err := daemon.SdNotify(true, daemon.SdNotifyReady)
	if err != nil {
		log.G(ctx).WithError(err).Warn("sd_notify READY=1")
	} else if sent {
		log.G(ctx).Debug("told systemd the daemon is ready")
	}
}

// sandboxPhases are the phases the sandboxes gauge always reports.
var sandboxPhases = []string{string(sandboxer.PhaseCreated), string(sandboxer.PhaseReady), string(sandboxer.PhaseStopped)}

// registerDaemonMetrics adds what only the daemon knows: its sandboxes,
// its pod servers, its version.
func registerDaemonMetrics(m *metrics.Metrics, ctrl *sandboxer.Controller, remotes *metrics.Remotes) {
	m.Register(
		metrics.Sandboxes(func() []metrics.Sandbox {
			var out []metrics.Sandbox
			for _, s := range ctrl.List(context.Background(), false) {
				out = append(out, metrics.Sandbox{Runtime: string(s.State.Mode), Phase: string(s.State.Phase)})
			}
			return out
		}, sandboxPhases...),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wasm_sandboxer_pod_servers", Help: "Pod servers (one per forked pod) the daemon is attached to.",
		}, func() float64 { return float64(remotes.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "wasm_sandboxer_build_info", Help: "The daemon's version.",
			ConstLabels: prometheus.Labels{"version": version.Version},
		}, func() float64 { return 1 }),
	)
}

// runtimeOf names a sandbox's runtime for the metrics.
func runtimeOf(ctrl *sandboxer.Controller) func(id string) string {
	return func(id string) string {
		mode, err := ctrl.ModeOf(id)
		if err != nil {
			return "unknown"
		}
		return string(mode)
	}
}

// scrapeTimeout bounds a scrape's requests to pod servers.
const scrapeTimeout = 5 * time.Second

// metricsMux serves the daemon's figures summed with its pod servers'.
func metricsMux(m *metrics.Metrics, remotes *metrics.Remotes) http.Handler {
	g := metrics.GathererFunc(scrapeTimeout, func(ctx context.Context) ([]*dto.MetricFamily, error) {
		own, err := m.Gather()
		return metrics.Merge(append(remotes.Gather(ctx), own)...), err
	})
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(g))
	return mux
}

// report is what `wasm-sandboxer status` prints.
func report(ctx context.Context, ctrl *sandboxer.Controller, o options, forked bool, remotes *metrics.Remotes,
	cc *compcache.Cache, started time.Time, metricsAddr string) status.Report {
	entries, bytes := cc.Stats()
	r := status.Report{
		Version: version.Version, Pid: os.Getpid(), Started: started, StateDir: o.stateDir,
		Forked: forked, MetricsAddress: metricsAddr, PodServers: remotes.Len(),
		CompileCache: status.CompileCache{Entries: entries, Bytes: bytes},
		Sandboxes:    []status.Sandbox{},
	}
	for _, s := range ctrl.List(ctx, true) {
		sb := status.Sandbox{ID: s.State.ID, Namespace: s.State.Namespace, Mode: string(s.State.Mode),
			Phase: string(s.State.Phase), Tasks: s.Tasks, Created: s.State.CreatedAt, Address: s.State.Address}
		if s.TasksErr != nil {
			sb.TasksErr = s.TasksErr.Error()
		}
		r.Sandboxes = append(r.Sandboxes, sb)
	}
	return r
}
