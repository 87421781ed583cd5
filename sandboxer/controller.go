// Package sandboxer implements containerd's Sandbox Controller API
// (containerd.services.sandbox.v1.Controller): the lifecycle of pods, their
// persisted state, and one task API endpoint per pod.
package sandboxer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	api "github.com/containerd/containerd/api/services/sandbox/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/timestamppb"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/task"
)

// TaskAPIVersion is the task API version served: 3, so containerd talks to
// the endpoint directly instead of starting a shim binary.
const TaskAPIVersion = 3

// Sandbox states as containerd's CRI expects them in Status.
const (
	StateReady    = "SANDBOX_READY"
	StateNotReady = "SANDBOX_NOTREADY"
)

// maxSocketPath is the room a unix socket path has (sun_path less the NUL).
const maxSocketPath = 107

// AnnotationOwner, set to OwnerTask on Create, marks a sandbox made for a
// single task by containerd-shim-wasm-v1 (the ctr path): it is shut down
// when containerd shuts that task down.
const (
	AnnotationOwner = "io.wasm-sandboxer.owner"
	OwnerTask       = "task"
)

// AnnotationRuntime on a pod ("goroutine" or "forked") chooses the runtime
// of its modules, over the sandboxer's default.
const AnnotationRuntime = "wasm-sandboxer.io/runtime"

// Config configures a Controller.
type Config struct {
	// StateDir holds state files and task sockets.
	StateDir string
	// Runtime runs the modules of sandboxes in goroutine mode.
	Runtime task.Runtime
	// Forked runs the modules of sandboxes in forked mode; nil when the
	// daemon has no worker binary.
	Forked task.Runtime
	// ForkedSandboxer is the containerd sandboxer (proxy_plugins) name
	// whose sandboxes run forked, e.g. "wasm-forked".
	ForkedSandboxer string
	// Publisher forwards task events.
	Publisher task.Publisher
	// Images provides modules from image layers (optional).
	Images task.ImageModules
}

// Controller serves the Sandbox Controller API.
type Controller struct {
	api.UnimplementedControllerServer

	cfg       Config
	store     *Store
	socketDir string

	mu        sync.Mutex
	sandboxes map[string]*sandbox

	closing   chan struct{} // closed when the daemon shuts down
	closeOnce sync.Once
}

var _ api.ControllerServer = (*Controller)(nil)

// New returns a Controller and reloads every sandbox it persisted: ready
// sandboxes get their task endpoint back, so containerd can reach them.
func New(ctx context.Context, cfg Config) (*Controller, error) {
	store, err := NewStore(filepath.Join(cfg.StateDir, "sandboxes"))
	if err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:       cfg,
		store:     store,
		socketDir: filepath.Join(cfg.StateDir, "s"),
		sandboxes: map[string]*sandbox{},
		closing:   make(chan struct{}),
	}
	if len(c.socketPath("x")) > maxSocketPath {
		return nil, fmt.Errorf("state dir %q is too long for unix socket paths (max %d bytes in all): %w", cfg.StateDir, maxSocketPath, errdefs.ErrInvalidArgument)
	}
	if err := os.MkdirAll(c.socketDir, 0o700); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	states, errs := store.Load()
	for _, err := range errs {
		log.G(ctx).WithError(err).Error("skipping unreadable sandbox state")
	}
	for _, st := range states {
		sb := newSandbox(st, c.newTaskService(st))
		if st.Phase == PhaseReady {
			if err := sb.serve(ctx, c.socketPath(st.ID)); err != nil {
				log.G(ctx).WithError(err).WithField("sandbox", st.ID).Error("restore task endpoint; marking sandbox stopped")
				sb.markStopped(time.Now())
				if err := store.Save(sb.snapshot()); err != nil {
					log.G(ctx).WithError(err).WithField("sandbox", st.ID).Error("save sandbox state")
				}
			}
		}
		c.sandboxes[st.ID] = sb
		log.G(ctx).WithFields(log.Fields{"sandbox": st.ID, "phase": st.Phase}).Info("sandbox restored")
	}
	return c, nil
}

// socketPath is short whatever the sandbox id: sun_path holds 107 bytes.
func (c *Controller) socketPath(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(c.socketDir, hex.EncodeToString(sum[:8])+".sock")
}

// modeOf picks a new sandbox's runtime: the pod's annotation, else the
// sandboxer name containerd used (one proxy_plugins entry per RuntimeClass).
func (c *Controller) modeOf(r *api.ControllerCreateRequest) (Mode, error) {
	mode := ModeGoroutine
	if c.cfg.ForkedSandboxer != "" && r.Sandboxer == c.cfg.ForkedSandboxer {
		mode = ModeForked
	}
	if v, ok := podAnnotations(r)[AnnotationRuntime]; ok {
		switch Mode(v) {
		case ModeGoroutine, ModeForked:
			mode = Mode(v)
		default:
			return "", fmt.Errorf("pod annotation %s=%q: want %q or %q: %w", AnnotationRuntime, v, ModeGoroutine, ModeForked, errdefs.ErrInvalidArgument)
		}
	}
	if mode == ModeForked && c.cfg.Forked == nil {
		return "", fmt.Errorf("sandbox %q asks for the forked runtime, which this daemon does not run (no worker binary; see --worker-binary): %w", r.SandboxID, errdefs.ErrNotImplemented)
	}
	return mode, nil
}

// podAnnotations are the request's annotations and, for CRI, the pod's
// (CRI sends the PodSandboxConfig as the options).
func podAnnotations(r *api.ControllerCreateRequest) map[string]string {
	out := map[string]string{}
	if r.Options != nil {
		var cfg cri.PodSandboxConfig
		if r.Options.MessageIs(&cfg) && r.Options.UnmarshalTo(&cfg) == nil {
			maps.Copy(out, cfg.Annotations)
		}
	}
	maps.Copy(out, r.Annotations)
	return out
}

// newTaskService returns the task service of a sandbox; a task-owned
// sandbox shuts itself down once its task is gone.
func (c *Controller) newTaskService(st State) *task.Service {
	var opts []task.ServiceOption
	if c.cfg.Images != nil {
		opts = append(opts, task.WithImageModules(c.cfg.Images))
	}
	if st.NetNSPath != "" {
		opts = append(opts, task.WithNetNS(st.NetNSPath))
	}
	if st.Annotations[AnnotationOwner] == OwnerTask {
		id, ns := st.ID, st.Namespace
		opts = append(opts, task.WithShutdownWhenEmpty(func() {
			ctx := namespaces.WithNamespace(context.Background(), ns)
			if _, err := c.Shutdown(ctx, &api.ControllerShutdownRequest{SandboxID: id}); err != nil && !errdefs.IsNotFound(err) {
				log.G(ctx).WithError(err).WithField("sandbox", id).Warn("shut down task-owned sandbox")
			}
		}))
	}
	rt := c.cfg.Runtime
	if st.Mode == ModeForked && c.cfg.Forked != nil {
		rt = c.cfg.Forked
	}
	return task.NewService(st.ID, rt, c.cfg.Publisher, opts...)
}

func (c *Controller) get(id string) (*sandbox, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sb, ok := c.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return sb, nil
}

// Create records a new sandbox.
func (c *Controller) Create(ctx context.Context, r *api.ControllerCreateRequest) (*api.ControllerCreateResponse, error) {
	if err := identifiers.Validate(r.SandboxID); err != nil {
		return nil, fmt.Errorf("sandbox id: %w", err)
	}
	ns, _ := namespaces.Namespace(ctx)
	mode, err := c.modeOf(r)
	if err != nil {
		return nil, err
	}
	st := State{
		ID:          r.SandboxID,
		Namespace:   ns,
		Mode:        mode,
		Phase:       PhaseCreated,
		NetNSPath:   r.NetnsPath,
		Annotations: r.Annotations,
		CreatedAt:   time.Now().UTC(),
	}
	c.mu.Lock()
	if _, ok := c.sandboxes[r.SandboxID]; ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, errdefs.ErrAlreadyExists)
	}
	sb := newSandbox(st, c.newTaskService(st))
	c.sandboxes[r.SandboxID] = sb
	c.mu.Unlock()
	if err := c.store.Save(st); err != nil {
		c.mu.Lock()
		delete(c.sandboxes, r.SandboxID)
		c.mu.Unlock()
		return nil, err
	}
	log.G(ctx).WithFields(log.Fields{"sandbox": r.SandboxID, "netns": r.NetnsPath}).Info("sandbox created")
	return &api.ControllerCreateResponse{SandboxID: r.SandboxID}, nil
}

// Start opens the sandbox's task endpoint and marks it ready.
func (c *Controller) Start(ctx context.Context, r *api.ControllerStartRequest) (*api.ControllerStartResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch sb.state.Phase {
	case PhaseStopped:
		return nil, fmt.Errorf("sandbox %q is stopped: %w", r.SandboxID, errdefs.ErrFailedPrecondition)
	case PhaseCreated:
		if err := sb.serveLocked(ctx, c.socketPath(r.SandboxID)); err != nil {
			return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, err)
		}
		sb.state.Phase = PhaseReady
		sb.state.StartedAt = time.Now().UTC()
		if err := c.store.Save(sb.state); err != nil {
			sb.closeServerLocked(ctx)
			sb.state.Phase = PhaseCreated
			return nil, err
		}
		log.G(ctx).WithFields(log.Fields{"sandbox": r.SandboxID, "address": sb.state.Address}).Info("sandbox started")
	}
	return &api.ControllerStartResponse{
		SandboxID: r.SandboxID,
		Pid:       0,
		CreatedAt: timestamppb.New(sb.state.CreatedAt),
		Address:   sb.state.Address,
		Version:   TaskAPIVersion,
	}, nil
}

// Platform is the host's: CRI builds a Linux spec, and the module reads only
// the process, root and mounts of it.
func (c *Controller) Platform(ctx context.Context, r *api.ControllerPlatformRequest) (*api.ControllerPlatformResponse, error) {
	if _, err := c.get(r.SandboxID); err != nil {
		return nil, err
	}
	return &api.ControllerPlatformResponse{Platform: &types.Platform{OS: "linux", Architecture: runtime.GOARCH}}, nil
}

// Stop ends every task of the sandbox and marks it not ready. The task
// endpoint stays up: containerd still deletes the stopped tasks through it.
func (c *Controller) Stop(ctx context.Context, r *api.ControllerStopRequest) (*api.ControllerStopResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	killCtx := ctx
	if r.TimeoutSecs > 0 {
		var cancel context.CancelFunc
		killCtx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutSecs)*time.Second)
		defer cancel()
	}
	sb.tasks.KillAll(killCtx)
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.state.Phase != PhaseStopped {
		sb.markStoppedLocked(time.Now().UTC())
		if err := c.store.Save(sb.state); err != nil {
			return nil, err
		}
		log.G(ctx).WithField("sandbox", r.SandboxID).Info("sandbox stopped")
	}
	return &api.ControllerStopResponse{}, nil
}

// Wait blocks until the sandbox stops or ctx ends.
func (c *Controller) Wait(ctx context.Context, r *api.ControllerWaitRequest) (*api.ControllerWaitResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	select {
	case <-sb.stopped:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closing:
		// containerd's proxy retries Wait on Unavailable: it will ask the
		// restarted daemon, which answers from persisted state.
		return nil, fmt.Errorf("wasm-sandboxer is shutting down: %w", errdefs.ErrUnavailable)
	}
	st := sb.snapshot()
	return &api.ControllerWaitResponse{ExitStatus: st.ExitStatus, ExitedAt: protobuf.ToTimestamp(st.ExitedAt)}, nil
}

// Status reports the sandbox's state. The pid is 0: no process holds the
// pod's namespaces (docs/RATIONALE.md, "Why is the sandbox pid 0?").
func (c *Controller) Status(ctx context.Context, r *api.ControllerStatusRequest) (*api.ControllerStatusResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	st := sb.snapshot()
	resp := &api.ControllerStatusResponse{
		SandboxID: st.ID,
		State:     StateNotReady,
		CreatedAt: timestamppb.New(st.CreatedAt),
		Address:   st.Address,
		Version:   TaskAPIVersion,
	}
	if st.Phase == PhaseReady {
		resp.State = StateReady
	}
	if !st.ExitedAt.IsZero() {
		resp.ExitedAt = timestamppb.New(st.ExitedAt)
	}
	if r.Verbose {
		resp.Info = map[string]string{
			"phase": string(st.Phase),
			"tasks": fmt.Sprint(sb.tasks.Len()),
			"netns": st.NetNSPath,
			"owner": st.Annotations[AnnotationOwner],
			"mode":  string(st.Mode),
		}
	}
	return resp, nil
}

// Shutdown stops the sandbox if needed, releases every task and removes the
// sandbox and its state.
func (c *Controller) Shutdown(ctx context.Context, r *api.ControllerShutdownRequest) (*api.ControllerShutdownResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	sb.tasks.Close(ctx)
	sb.mu.Lock()
	if sb.state.Phase != PhaseStopped {
		sb.markStoppedLocked(time.Now().UTC())
	}
	sb.closeServerLocked(ctx)
	sb.mu.Unlock()
	if err := c.store.Remove(r.SandboxID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	delete(c.sandboxes, r.SandboxID)
	c.mu.Unlock()
	log.G(ctx).WithField("sandbox", r.SandboxID).Info("sandbox shut down")
	return &api.ControllerShutdownResponse{}, nil
}

// Metrics is the pod's total resource use: its tasks' stats summed
// (task.Service.Metrics).
func (c *Controller) Metrics(ctx context.Context, r *api.ControllerMetricsRequest) (*api.ControllerMetricsResponse, error) {
	sb, err := c.get(r.SandboxID)
	if err != nil {
		return nil, err
	}
	m, err := sb.tasks.Metrics(ctx)
	if err != nil {
		return nil, err
	}
	return &api.ControllerMetricsResponse{Metrics: m}, nil
}

// Update accepts containerd's sandbox metadata updates; nothing of it
// changes how a Wasm sandbox runs.
func (c *Controller) Update(ctx context.Context, r *api.ControllerUpdateRequest) (*api.ControllerUpdateResponse, error) {
	if _, err := c.get(r.SandboxID); err != nil {
		return nil, err
	}
	return &api.ControllerUpdateResponse{}, nil
}

// StopWaits answers the pending (and later) Controller Waits with
// Unavailable: containerd's proxy retries them against the restarted
// daemon. The task endpoints stay up until the process exits.
func (c *Controller) StopWaits() {
	c.closeOnce.Do(func() { close(c.closing) })
}

// Close answers pending Waits with Unavailable and stops serving every task
// endpoint. Running modules end with the daemon; persisted state stays so a
// restarted daemon answers for them.
func (c *Controller) Close(ctx context.Context) {
	c.StopWaits()
	c.mu.Lock()
	sbs := make([]*sandbox, 0, len(c.sandboxes))
	for _, sb := range c.sandboxes {
		sbs = append(sbs, sb)
	}
	c.mu.Unlock()
	for _, sb := range sbs {
		sb.mu.Lock()
		sb.closeServerLocked(ctx)
		sb.mu.Unlock()
	}
}
