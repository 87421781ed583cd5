//go:build integration

package integration

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// freeAddress is a loopback address no one listens on right now.
func freeAddress() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrape is one read of the daemon's /metrics.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T) scrape {
	t.Helper()
	resp, err := http.Get("http://" + shared.metrics + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value is the series of name whose labels include labels ("k=v" pairs):
// a counter's or gauge's value, a histogram's count.
func (s scrape) value(name string, labels ...string) float64 {
	f, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
next:
	for _, m := range f.Metric {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			found := false
			for _, ml := range m.Label {
				found = found || (ml.GetName() == k && ml.GetValue() == v)
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetrics runs a pod in each runtime and reads what the daemon's
// Prometheus endpoint says of them. Other tests share the daemon, so the
// checks are on differences, at least what this test did.
func TestMetrics(t *testing.T) {
	before := scrapeMetrics(t)
	// In each pod a module that runs until it is killed (a container that
	// exited has no task left: CRI deletes it at once).
	spinner := container{image: tinyImage, command: []string{"/spin.wasm"}}
	goroutinePod := runPodWith(t, "wasm")
	goroutinePod.running(t, spinner)
	forkedPod := runPodWith(t, "wasm-forked")
	forkedPod.running(t, spinner)

	// The forked pod's pool warms in the background.
	var now scrape
	poll(t, "worker_pool_idle at least 1 with a forked pod running", func() bool {
		now = scrapeMetrics(t)
		return now.value("wasm_sandboxer_worker_pool_idle") >= 1
	})
	for _, rt := range []string{"goroutine", "forked"} {
		label := "runtime=" + rt
		for _, name := range []string{
			"wasm_sandboxer_task_start_seconds",
			"wasm_sandboxer_sandbox_start_seconds",
			"wasm_sandboxer_compile_cache_hits_total", // hits plus misses below
		} {
			d := now.value(name, label) - before.value(name, label)
			if name == "wasm_sandboxer_compile_cache_hits_total" {
				d += now.value("wasm_sandboxer_compile_cache_misses_total", label) - before.value("wasm_sandboxer_compile_cache_misses_total", label)
			}
			if d < 1 {
				t.Errorf("%s{%s} grew by %v, want at least 1", name, label, d)
			}
		}
		if n := now.value("wasm_sandboxer_sandboxes", "runtime="+rt, "phase=ready"); n < 1 {
			t.Errorf("sandboxes{runtime=%s,phase=ready} = %v, want at least 1", rt, n)
		}
		if n := now.value("wasm_sandboxer_tasks", "runtime="+rt, "state=running"); n < 1 {
			t.Errorf("tasks{runtime=%s,state=running} = %v, want at least 1 (the spinner)", rt, n)
		}
	}
	if n := now.value("wasm_sandboxer_pod_servers"); n < 1 {
		t.Errorf("pod_servers %v, want at least 1", n)
	}

	// wasm-sandboxer status lists both pods.
	out, err := exec.Command(filepath.Join(shared.out, "bin", "wasm-sandboxer"), "status", "--address", filepath.Join(shared.dir, "sandboxer.sock")).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{goroutinePod.id[:13] + "  k8s.io     goroutine  ready", forkedPod.id[:13] + "  k8s.io     forked     ready", "forked runtime: on"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	// Removing the forked pod ends its pod server; what it counted stays.
	if err := removePod(ctx(t), forkedPod.id); err != nil {
		t.Fatal(err)
	}
	after := scrapeMetrics(t)
	for _, name := range []string{"wasm_sandboxer_task_start_seconds", "wasm_sandboxer_compile_cache_misses_total"} {
		if a, n := after.value(name, "runtime=forked"), now.value(name, "runtime=forked"); a < n {
			t.Errorf("%s{runtime=forked} went from %v to %v when the pod went away", name, n, a)
		}
	}
}
