package bench

import (
	"strings"
	"testing"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
)

func TestMarkdown(t *testing.T) {
	f1 := &Figure{ID: 1, Title: "start to exit", Unit: "ms", Rows: []*Row{
		{Name: "goroutine", Summary: stats.Summarize([]float64{2, 4, 6})},
		{Name: "runc", Summary: stats.Summarize([]float64{80, 100, 120})},
		{Name: "forked", Err: "no worker | binary"},
		{Name: "density", Summary: stats.Summary{Count: 9}},
	}}
	f1.SetRatios("runc")
	f3 := &Figure{ID: 3, Title: "throughput", Unit: "ms", Value: "tasks/s", Rows: []*Row{
		{Name: "goroutine c=1", Value: 250, Summary: stats.Summarize([]float64{4})},
		{Name: "runc c=1", Value: 10, Summary: stats.Summarize([]float64{100})},
	}}
	f3.SetRatios("runc c=1")
	r := &Results{Figures: []*Figure{f1, f3}, Targets: []Target{{What: "runc / goroutine", Ratio: f1.Ratio("runc", "goroutine"), Goal: "≥ 5×", Met: true}}}
	path := t.TempDir() + "/r.json"
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	got := back.Markdown()
	for _, want := range []string{
		"| # | figure | row | median | p90 | p99 | n | value | ratio |",
		"| 1 | start to exit | goroutine | 4.00 ms | 6.00 ms | 6.00 ms | 3 | — | 0.04× runc |",
		"| 1 | start to exit | runc | 100 ms | 120 ms | 120 ms | 3 | — | 1.00× runc |",
		"| 1 | start to exit | forked | — | — | — | 0 | — | no worker / binary |",
		"| 1 | start to exit | density | — | — | — | 9 | — | 0× runc |",
		"| 3 | throughput | goroutine c=1 | 4.00 ms | 4.00 ms | 4.00 ms | 1 | 250 tasks/s | 25.0× runc c=1 |",
		"| runc / goroutine | 25.0× | ≥ 5× | yes |",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestPlotLatency(t *testing.T) {
	f := &Figure{ID: 1, Rows: []*Row{
		{Name: "a", Samples: []float64{1, 2, 3, 4, 50}},
		{Name: "b", Samples: []float64{100, 120, 130}},
		{Name: "no samples"},
	}}
	path := t.TempDir() + "/p.png"
	if err := PlotLatency(path, "test", f); err != nil {
		t.Fatal(err)
	}
	if err := PlotLatency(path, "test", &Figure{}); err == nil {
		t.Fatal("plot of nothing succeeded")
	}
}

func TestSetRatiosOnly(t *testing.T) {
	f := &Figure{ID: 3, Value: "tasks/s", Rows: []*Row{
		{Name: "a, C=1", Value: 20}, {Name: "runc, C=1", Value: 10},
		{Name: "a, C=4", Value: 60}, {Name: "runc, C=4", Value: 30}, {Name: "b, C=4", Value: 15, Err: "failed"},
	}}
	f.SetRatios("runc, C=1", "a, C=1")
	f.SetRatios("runc, C=4", "a, C=4", "b, C=4")
	for _, c := range []struct {
		row, to string
		ratio   float64
	}{
		{"a, C=1", "runc, C=1", 2}, {"runc, C=1", "runc, C=1", 1},
		{"a, C=4", "runc, C=4", 2}, {"runc, C=4", "runc, C=4", 1}, {"b, C=4", "", 0},
	} {
		if r := f.Row(c.row); r.Ratio != c.ratio || r.RatioTo != c.to {
			t.Errorf("%s: %v× %q, want %v× %q", c.row, r.Ratio, r.RatioTo, c.ratio, c.to)
		}
	}
}
