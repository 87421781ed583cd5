package main

import (
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/bench"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/stats"
)

// The steps of figure 1's unit, in order.
const (
	stepContainer       = "container + snapshot"
	stepTask            = "task create"
	stepStart           = "start"
	stepExit            = "wait for exit"
	stepStdout          = "stdout drained"
	stepTaskDelete      = "task delete"
	stepContainerDelete = "container + snapshot delete"
)

// The steps of figure 7's unit, in order.
const (
	stepRunPod     = "RunPodSandbox"
	stepCreateCtr  = "CreateContainer"
	stepStartCtr   = "StartContainer"
	stepRunningCtr = "until RUNNING"
)

// steps records how long each step of a run took, run after run: where
// figure 1's time goes. A nil *steps records nothing.
type steps struct {
	last  time.Time
	took  map[string][]time.Duration
	order []string // step names as first marked
}

func newSteps() *steps { return &steps{took: map[string][]time.Duration{}} }

// begin starts a run.
func (s *steps) begin() {
	if s != nil {
		s.last = time.Now()
	}
}

// mark ends step name, which began at the previous mark (or begin).
func (s *steps) mark(name string) {
	if s == nil {
		return
	}
	now := time.Now()
	if _, ok := s.took[name]; !ok {
		s.order = append(s.order, name)
	}
	s.took[name] = append(s.took[name], now.Sub(s.last))
	s.last = now
}

// summaries returns each step's summary in milliseconds, in step order.
func (s *steps) summaries() []bench.Step {
	var out []bench.Step
	for _, name := range s.order {
		if d := s.took[name]; len(d) > 0 {
			out = append(out, bench.Step{Name: name, Summary: stats.Summarize(bench.Millis(d))})
		}
	}
	return out
}
