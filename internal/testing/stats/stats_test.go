package stats

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	var s []float64
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, float64(i))
	}
	got := Summarize(s)
	want := Summary{Count: 100, Median: 50, P90: 90, P99: 99, Min: 1, Max: 100, Mean: 50.5}
	if got != want {
		t.Fatalf("Summarize(1..100) = %+v, want %+v", got, want)
	}
	if s[0] != 100 {
		t.Fatal("Summarize sorted its input")
	}
	for _, c := range []struct {
		in               []float64
		median, p90, p99 float64
	}{
		{[]float64{7}, 7, 7, 7},
		{[]float64{1, 2}, 1, 2, 2},
		{[]float64{3, 1, 2}, 2, 3, 3},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 5, 9, 10},
	} {
		g := Summarize(c.in)
		if g.Median != c.median || g.P90 != c.p90 || g.P99 != c.p99 || g.Count != len(c.in) {
			t.Errorf("Summarize(%v) = %+v, want median %v p90 %v p99 %v", c.in, g, c.median, c.p90, c.p99)
		}
	}
	if z := Summarize(nil); z.Count != 0 {
		t.Errorf("Summarize(nil) = %+v", z)
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of nothing is not NaN")
	}
}
