package bench

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotLatency writes a PNG of the latency distribution of every row of
// figs that kept its samples: one box (quartiles, whiskers at 1.5 IQR,
// outliers as points) per row, on a log scale, labelled "#figure row".
func PlotLatency(path, title string, figs ...*Figure) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var names []string
	w := vg.Points(18)
	for _, f := range figs {
		for _, r := range f.Rows {
			if len(r.Samples) == 0 {
				continue
			}
			vals := make(plotter.Values, 0, len(r.Samples))
			for _, v := range r.Samples {
				vals = append(vals, max(v, 1e-3)) // a log axis has no 0
			}
			box, err := plotter.NewBoxPlot(w, float64(len(names)), vals)
			if err != nil {
				return fmt.Errorf("plot %s: %w", r.Name, err)
			}
			p.Add(box)
			names = append(names, fmt.Sprintf("#%d %s", f.ID, r.Name))
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("plot: no samples")
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.5
	p.X.Tick.Label.XAlign = -0.9 // right-align the rotated labels under their box
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(90*len(names)+150), 5*vg.Inch, path)
}
