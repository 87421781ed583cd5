package sandboxer

import (
	"context"
	"sort"
)

// Summary is what the daemon reports of a sandbox (wasm-sandboxer status).
type Summary struct {
	State State
	// Tasks is the number of tasks, -1 when unknown (TasksErr says why) or
	// not asked for.
	Tasks    int
	TasksErr error
}

// List returns every sandbox, oldest first; with tasks, each one's task
// count (for a forked sandbox, one request to its pod server).
func (c *Controller) List(ctx context.Context, tasks bool) []Summary {
	sbs := c.all()
	out := make([]Summary, 0, len(sbs))
	for _, sb := range sbs {
		sb.mu.Lock()
		s, h := Summary{State: sb.state, Tasks: -1}, sb.host
		sb.mu.Unlock()
		if tasks {
			if s.Tasks, s.TasksErr = taskCount(ctx, h); s.TasksErr != nil {
				s.Tasks = -1
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].State, out[j].State
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return out
}

// ModeOf is the runtime of sandbox id.
func (c *Controller) ModeOf(id string) (Mode, error) {
	sb, err := c.get(id)
	if err != nil {
		return "", err
	}
	return sb.snapshot().Mode, nil
}
