// Package bench measures wasm-sandboxer side by side with its baselines
// (bare wazero, runc) in one run and renders the results: the Markdown
// table, results JSON and the latency plot (statistics: internal/testing/stats).
// The driver is cmd/wasm-bench (make bench, make bench-quick); see
// docs/performance.md.
package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
)

// Results is one run: the machine, and every figure.
type Results struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Quick    bool      `json:"quick"`
	Machine  Machine   `json:"machine"`
	Figures  []*Figure `json:"figures"`
	Targets  []Target  `json:"targets,omitempty"`
	Commands []string  `json:"commands,omitempty"` // how it was run
}

// Machine says what the figures were measured on.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal string `json:"mem_total"`
	Kernel   string `json:"kernel"`
	Cgroup   string `json:"cgroup"`
	Go       string `json:"go"`
	Runc     string `json:"runc"`
}

// Figure is one of the figures: rows measured in the same run, each
// with its ratio to the figure's baseline row.
type Figure struct {
	ID    int    `json:"id"`
	Title string `json:"title"`
	// Unit of the rows' summaries, e.g. "ms" or "MB/s".
	Unit string `json:"unit"`
	// Value names the rows' headline value when there is one (e.g.
	// "tasks/s", "MiB/container"), else empty.
	Value string `json:"value,omitempty"`
	// Note says what was measured and how the ratio reads.
	Note string `json:"note,omitempty"`
	Rows []*Row `json:"rows"`
}

// Row is one mode's measurement in a figure.
type Row struct {
	Name    string        `json:"name"`
	Summary stats.Summary `json:"summary"`
	// Value is the headline figure when the figure has one (Figure.Value).
	Value float64 `json:"value,omitempty"`
	// Ratio is this row over its baseline (Summary medians, or Values when
	// the figure has them); RatioTo names the baseline row.
	Ratio   float64   `json:"ratio,omitempty"`
	RatioTo string    `json:"ratio_to,omitempty"`
	Samples []float64 `json:"samples,omitempty"`
	// Err says why a row has no measurement.
	Err string `json:"error,omitempty"`
	// Steps break a latency row down: where its time goes (figure 1).
	Steps []Step `json:"steps,omitempty"`
}

// Step is one step of a row's unit of work, in the figure's unit.
type Step struct {
	Name    string        `json:"name"`
	Summary stats.Summary `json:"summary"`
}

// Millis converts durations to milliseconds, the unit of latency rows.
func Millis(d []time.Duration) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v) / float64(time.Millisecond)
	}
	return out
}

// Target is one of the goals, checked against this run.
type Target struct {
	What  string  `json:"what"`
	Ratio float64 `json:"ratio"`
	Goal  string  `json:"goal"`
	Met   bool    `json:"met"`
}

// Row returns the figure's row called name, or nil.
func (f *Figure) Row(name string) *Row {
	for _, r := range f.Rows {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// headline is what a ratio compares: the Value when the figure has one,
// else the median.
func (f *Figure) headline(r *Row) float64 {
	if f.Value != "" {
		return r.Value
	}
	return r.Summary.Median
}

// SetRatios sets every measured row's ratio to the row called base (the
// baseline itself gets 1). Rows named in only get theirs when only is
// non-empty.
func (f *Figure) SetRatios(base string, only ...string) {
	b := f.Row(base)
	if b == nil || b.Err != "" || f.headline(b) == 0 {
		return
	}
	for _, r := range f.Rows {
		if r.Err != "" || (len(only) > 0 && !slices.Contains(only, r.Name) && r != b) {
			continue
		}
		r.Ratio, r.RatioTo = f.headline(r)/f.headline(b), base
	}
}

// Ratio is the headline of row a over row b in figure f, or NaN.
func (f *Figure) Ratio(a, b string) float64 {
	ra, rb := f.Row(a), f.Row(b)
	if ra == nil || rb == nil || ra.Err != "" || rb.Err != "" || f.headline(rb) == 0 {
		return math.NaN()
	}
	return f.headline(ra) / f.headline(rb)
}

// Figure returns the figure with id, or nil.
func (r *Results) Figure(id int) *Figure {
	for _, f := range r.Figures {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// ReadJSON reads results WriteJSON wrote.
func ReadJSON(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// WriteJSON writes the results to path atomically (through path.tmp).
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// Markdown renders every figure as one table, then the targets.
func (r *Results) Markdown() string {
	var b strings.Builder
	b.WriteString("| # | figure | row | median | p90 | p99 | n | value | ratio |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|---|\n")
	for _, f := range r.Figures {
		for _, row := range f.Rows {
			s := row.Summary
			q := func(v float64) string {
				if s.Count == 0 || s.Max == 0 { // nothing measured, or nothing to attribute
					return "—"
				}
				return num(v) + " " + f.Unit
			}
			value := "—"
			if f.Value != "" && row.Value != 0 {
				value = num(row.Value) + " " + f.Value
			}
			ratio := "—"
			if row.RatioTo != "" {
				ratio = fmt.Sprintf("%s× %s", num(row.Ratio), row.RatioTo)
			}
			if row.Err != "" {
				ratio = cell(row.Err)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %d | %s | %s |\n",
				f.ID, f.Title, row.Name, q(s.Median), q(s.P90), q(s.P99), s.Count, value, ratio)
		}
	}
	for _, f := range r.Figures {
		b.WriteString(f.stepsMarkdown())
	}
	if len(r.Targets) > 0 {
		b.WriteString("\n| target | this run | goal | met |\n|---|--:|---|---|\n")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s× | %s | %s |\n", t.What, num(t.Ratio), t.Goal, met)
		}
	}
	return b.String()
}

// stepsMarkdown is the table of the figure's step breakdown (medians), or
// "" when no row has one.
func (f *Figure) stepsMarkdown() string {
	var names []string
	for _, row := range f.Rows {
		for _, st := range row.Steps {
			if !slices.Contains(names, st.Name) {
				names = append(names, st.Name)
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nFigure %d, where the time goes (median of each step, %s):\n\n| row | %s | sum of medians | median |\n|---|", f.ID, f.Unit, strings.Join(names, " | "))
	b.WriteString(strings.Repeat("--:|", len(names)+2) + "\n")
	for _, row := range f.Rows {
		if len(row.Steps) == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s |", row.Name)
		sum := 0.0
		for _, name := range names {
			i := slices.IndexFunc(row.Steps, func(s Step) bool { return s.Name == name })
			if i < 0 {
				b.WriteString(" — |")
				continue
			}
			sum += row.Steps[i].Summary.Median
			fmt.Fprintf(&b, " %s |", num(row.Steps[i].Summary.Median))
		}
		fmt.Fprintf(&b, " %s | %s |\n", num(sum), num(row.Summary.Median))
	}
	return b.String()
}

// num prints 3 significant digits, without exponent for everyday sizes.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", "/"), "\n", " ") }
