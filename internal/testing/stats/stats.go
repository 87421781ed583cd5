// Package stats summarizes samples the one way this repository reports
// them: nearest-rank quantiles, so every figure is a measured value. The
// benchmarks (bench/) and the task API's Go benchmark (task/tasktest) use
// it alike.
package stats

import (
	"math"
	"slices"
)

// Summary describes a sample: its size and nearest-rank quantiles.
type Summary struct {
	Count  int     `json:"count"`
	Median float64 `json:"median"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

// Summarize returns the summary of samples (which it does not modify).
// Quantiles are nearest-rank: the p-quantile of n sorted values is the one
// at rank ceil(p·n), so every reported figure is a measured value.
func Summarize(samples []float64) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	return Summary{
		Count:  len(s),
		Median: Quantile(s, 0.5),
		P90:    Quantile(s, 0.9),
		P99:    Quantile(s, 0.99),
		Min:    s[0],
		Max:    s[len(s)-1],
		Mean:   sum / float64(len(s)),
	}
}

// Quantile is the nearest-rank p-quantile of sorted (0 < p ≤ 1).
func Quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	r := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(r, 0), len(sorted)-1)]
}
