package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/log"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// Encode serialises families for the pod server's control API.
func Encode(families []*dto.MetricFamily) ([]byte, error) {
	var b bytes.Buffer
	for _, f := range families {
		if _, err := protodelim.MarshalTo(&b, f); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// Decode is Encode's inverse.
func Decode(b []byte) ([]*dto.MetricFamily, error) {
	r := bytes.NewReader(b)
	var out []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		err := protodelim.UnmarshalFrom(r, f)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode metric family: %w", err)
		}
		out = append(out, f)
	}
}

// Merge sums the series of several processes: counters, gauges and
// histograms with the same name and labels add up. A family's type and
// help are the first one's; a series of another type is dropped.
func Merge(sets ...[]*dto.MetricFamily) []*dto.MetricFamily {
	fams := map[string]*dto.MetricFamily{}
	series := map[string]*dto.Metric{}
	for _, set := range sets {
		for _, f := range set {
			into, ok := fams[f.GetName()]
			if !ok {
				into = &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type, Unit: f.Unit}
				fams[f.GetName()] = into
			}
			if into.GetType() != f.GetType() {
				continue
			}
			for _, m := range f.Metric {
				key := f.GetName() + "\x00" + labelKey(m)
				if s, ok := series[key]; ok {
					add(s, m)
					continue
				}
				c := proto.Clone(m).(*dto.Metric)
				c.TimestampMs = nil
				series[key] = c
				into.Metric = append(into.Metric, c)
			}
		}
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func labelKey(m *dto.Metric) string {
	ls := make([]string, 0, len(m.Label))
	for _, l := range m.Label {
		ls = append(ls, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(ls)
	return strings.Join(ls, "\x00")
}

// add adds m's values to s (same family, same labels).
func add(s, m *dto.Metric) {
	switch {
	case s.Counter != nil && m.Counter != nil:
		s.Counter.Value = proto.Float64(s.Counter.GetValue() + m.Counter.GetValue())
	case s.Gauge != nil && m.Gauge != nil:
		s.Gauge.Value = proto.Float64(s.Gauge.GetValue() + m.Gauge.GetValue())
	case s.Untyped != nil && m.Untyped != nil:
		s.Untyped.Value = proto.Float64(s.Untyped.GetValue() + m.Untyped.GetValue())
	case s.Histogram != nil && m.Histogram != nil:
		h, o := s.Histogram, m.Histogram
		h.SampleCount = proto.Uint64(h.GetSampleCount() + o.GetSampleCount())
		h.SampleSum = proto.Float64(h.GetSampleSum() + o.GetSampleSum())
		// Every process uses the same buckets (one definition in this
		// package); a bucket another process lacks is left as it is.
		bounds := map[float64]*dto.Bucket{}
		for _, b := range h.Bucket {
			bounds[b.GetUpperBound()] = b
		}
		for _, b := range o.Bucket {
			if into, ok := bounds[b.GetUpperBound()]; ok {
				into.CumulativeCount = proto.Uint64(into.GetCumulativeCount() + b.GetCumulativeCount())
			}
		}
	}
}

// Source is a process whose figures are fetched at scrape time (a pod
// server, through its control API).
type Source interface {
	Metrics(ctx context.Context) ([]*dto.MetricFamily, error)
}

// Remotes are the pod servers the daemon sums into its endpoint, and what
// the ones that were shut down had counted.
type Remotes struct {
	mu      sync.Mutex
	live    map[Source]struct{}
	retired []*dto.MetricFamily
}

// NewRemotes returns an empty set.
func NewRemotes() *Remotes { return &Remotes{live: map[Source]struct{}{}} }

// Add makes s's figures part of every scrape.
func (r *Remotes) Add(s Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.live[s] = struct{}{}
}

// Remove drops s (it is gone: its figures are lost, or the daemon stops).
func (r *Remotes) Remove(s Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, s)
}

// Retire fetches s's last figures and keeps its counters and histograms
// (gauges end with it), so counters do not go down when a pod goes away.
func (r *Remotes) Retire(ctx context.Context, s Source) {
	fams, err := s.Metrics(ctx)
	if err != nil {
		log.G(ctx).WithError(err).Debug("last metrics of a pod server")
	}
	var keep []*dto.MetricFamily
	for _, f := range fams {
		if t := f.GetType(); t == dto.MetricType_COUNTER || t == dto.MetricType_HISTOGRAM {
			keep = append(keep, f)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, s)
	r.retired = Merge(r.retired, keep)
}

// Len is the number of live sources.
func (r *Remotes) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// Gather returns the retired figures and those of every live source; a
// source that does not answer is skipped and logged.
func (r *Remotes) Gather(ctx context.Context) [][]*dto.MetricFamily {
	r.mu.Lock()
	sets := [][]*dto.MetricFamily{r.retired}
	live := make([]Source, 0, len(r.live))
	for s := range r.live {
		live = append(live, s)
	}
	r.mu.Unlock()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range live {
		wg.Go(func() {
			fams, err := s.Metrics(ctx)
			if err != nil {
				log.G(ctx).WithError(err).Warn("metrics of a pod server: left out of this scrape")
				return
			}
			mu.Lock()
			sets = append(sets, fams)
			mu.Unlock()
		})
	}
	wg.Wait()
	return sets
}
