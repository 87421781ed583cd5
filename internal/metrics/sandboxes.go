package metrics

import "github.com/prometheus/client_golang/prometheus"

// Sandbox is what the sandbox gauge needs of one sandbox.
type Sandbox struct {
	Runtime string // RuntimeGoroutine or RuntimeForked
	Phase   string // created, ready, stopped
}

var sandboxesDesc = prometheus.NewDesc("wasm_sandboxer_sandboxes",
	"Sandboxes (pods) the daemon knows, by runtime and phase.", []string{"runtime", "phase"}, nil)

// Sandboxes reports the sandboxes list returns at each scrape; phases
// lists the phases always reported (zero when none is in them).
func Sandboxes(list func() []Sandbox, phases ...string) prometheus.Collector {
	return sandboxCollector{list: list, phases: phases}
}

type sandboxCollector struct {
	list   func() []Sandbox
	phases []string
}

func (c sandboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sandboxesDesc }

func (c sandboxCollector) Collect(ch chan<- prometheus.Metric) {
	n := map[Sandbox]int{}
	for _, rt := range []string{RuntimeGoroutine, RuntimeForked} {
		for _, ph := range c.phases {
			n[Sandbox{rt, ph}] = 0
		}
	}
	for _, sb := range c.list() {
		n[sb]++
	}
	for sb, count := range n {
		ch <- prometheus.MustNewConstMetric(sandboxesDesc, prometheus.GaugeValue, float64(count), sb.Runtime, sb.Phase)
	}
}
