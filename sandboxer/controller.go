// Package sandboxer implements containerd's Sandbox Controller API
// (containerd.services.sandbox.v1.Controller): the lifecycle of pods, their
// persisted state, and one task API endpoint per pod.
package sandboxer

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
)

// maxSocketPath is the room a unix socket path has (sun_path less the NUL).
const maxSocketPath = 107

// AnnotationRuntime on a pod ("goroutine" or "forked") chooses the runtime
// of its modules, over the sandboxer's default.
const AnnotationRuntime = "wasm-sandboxer.io/runtime"

// Config configures a Controller.
type Config struct {
	// StateDir holds state files and task sockets.
	StateDir string
	// Hosts runs the sandboxes of each mode. A mode without a hosting
	// refuses its sandboxes (NotImplemented), saying why from Unhosted.
	Hosts map[Mode]Hosting
	// Unhosted says why a mode has no hosting, e.g. "no worker binary;
	// see --worker-binary".
	Unhosted map[Mode]string
	// Sandboxers maps containerd sandboxer (proxy_plugins) names to the
	// mode of their sandboxes, e.g. "wasm-forked" to ModeForked; other
	// names run ModeGoroutine.
	Sandboxers map[string]Mode
}

// Controller serves the Sandbox Controller API.
type Controller struct {
	api.UnimplementedControllerServer

	cfg       Config
	store     *Store
	socketDir string
	hostsDir  string // hosts' working dirs (HostSpec.Dir), one per sandbox

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
		hostsDir:  filepath.Join(cfg.StateDir, "pods"),
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
		sb := newSandbox(st)
		switch st.Phase {
		case PhaseReady:
			if err := c.restoreHost(ctx, sb, Hosting.Attach); err != nil {
				log.G(ctx).WithError(err).WithField("sandbox", st.ID).Error("restore task endpoint; marking sandbox stopped")
				sb.markStopped(time.Now().UTC())
				if err := store.Save(sb.snapshot()); err != nil {
					log.G(ctx).WithError(err).WithField("sandbox", st.ID).Error("save sandbox state")
				}
			}
		case PhaseStopped:
			// A stopped sandbox's pod server runs until Shutdown: without
			// its host back, Shutdown would leave it running for good.
			if err := c.restoreHost(ctx, sb, Hosting.Reattach); err != nil {
				log.G(ctx).WithError(err).WithField("sandbox", st.ID).Debug("stopped sandbox: no host outlived the daemon")
			}
		}
		c.sandboxes[st.ID] = sb
		log.G(ctx).WithFields(log.Fields{"sandbox": st.ID, "phase": sb.snapshot().Phase, "mode": st.Mode}).Info("sandbox restored")
	}
	c.cleanHostDirs(ctx)
	return c, nil
}

// restoreHost gives a sandbox its host back after a daemon restart with
// attach (Hosting.Attach for a ready one, Hosting.Reattach for a stopped
// one).
func (c *Controller) restoreHost(ctx context.Context, sb *sandbox, attach func(Hosting, context.Context, HostSpec) (Host, error)) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	hosting, err := c.hosting(sb.state.mode())
	if err != nil {
		return err
	}
	h, err := attach(hosting, ctx, c.hostSpec(sb.state))
	if err != nil {
		return err
	}
	c.setHostLocked(ctx, sb, h)
	return nil
}

// cleanHostDirs removes the working dirs of hosts that are gone: every dir
// under hostsDir that no attached sandbox uses. Every hosting is asked (a
// dir does not say which mode left it); one that leaves no dirs has
// nothing to do.
func (c *Controller) cleanHostDirs(ctx context.Context) {
	ents, err := os.ReadDir(c.hostsDir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			log.G(ctx).WithError(err).Warn("list host dirs")
		}
		return
	}
	inUse := map[string]bool{}
	for _, sb := range c.all() {
		sb.mu.Lock()
		if sb.host != nil {
			inUse[c.hostDir(sb.state.ID)] = true
		}
		sb.mu.Unlock()
	}
	for _, e := range ents {
		dir := filepath.Join(c.hostsDir, e.Name())
		if inUse[dir] {
			continue
		}
		for _, hosting := range c.cfg.Hosts {
			if err := hosting.Clean(ctx, dir); err != nil {
				log.G(ctx).WithError(err).WithField("dir", dir).Warn("clean stale host dir")
			}
		}
	}
}

// startHostLocked starts what serves the sandbox's tasks (Hosting.Start).
func (c *Controller) startHostLocked(ctx context.Context, sb *sandbox) error {
	hosting, err := c.hosting(sb.state.mode())
	if err != nil {
		return err
	}
	spec := c.hostSpec(sb.state)
	h, err := hosting.Start(ctx, spec)
	if err != nil {
		return err
	}
	sb.state.Address = "ttrpc+unix://" + spec.Socket
	c.setHostLocked(ctx, sb, h)
	return nil
}

// hosting is what runs the sandboxes of mode, or why there is none.
func (c *Controller) hosting(mode Mode) (Hosting, error) {
	h, ok := c.cfg.Hosts[mode]
	if !ok {
		why := cmp.Or(c.cfg.Unhosted[mode], "not configured")
		return nil, fmt.Errorf("%s sandbox, and this daemon runs no %s runtime (%s): %w", mode, mode, why, errdefs.ErrNotImplemented)
	}
	return h, nil
}

// hostSpec is what the host of the sandbox of st is started with. A
// sandbox made for one task shuts itself down once its task is gone.
func (c *Controller) hostSpec(st State) HostSpec {
	spec := HostSpec{ID: st.ID, Socket: c.socketPath(st.ID), Dir: c.hostDir(st.ID),
		NetNS: st.NetNSPath, CgroupParent: st.CgroupParent}
	if st.Annotations[sandboxapi.AnnotationOwner] == sandboxapi.OwnerTask {
		id, ns := st.ID, st.Namespace
		spec.ShutdownWhenEmpty = func() {
			ctx := namespaces.WithNamespace(context.Background(), ns)
			if _, err := c.Shutdown(ctx, &api.ControllerShutdownRequest{SandboxID: id}); err != nil && !errdefs.IsNotFound(err) {
				log.G(ctx).WithError(err).WithField("sandbox", id).Warn("shut down task-owned sandbox")
			}
		}
	}
	return spec
}

// setHostLocked installs h and, when h can end by itself (a pod server
// that dies), marks the sandbox stopped when it does.
func (c *Controller) setHostLocked(ctx context.Context, sb *sandbox, h Host) {
	sb.host = h
	gone := h.Gone()
	if gone == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		<-gone
		sb.mu.Lock()
		if sb.host != h { // shut down, or the daemon is stopping
			sb.mu.Unlock()
			return
		}
		sb.host = nil
		sb.state.ExitStatus = exitHostGone
		sb.markStoppedLocked(time.Now().UTC())
		st := sb.state
		sb.mu.Unlock()
		log.G(ctx).WithField("sandbox", st.ID).Error("pod server exited: the sandbox's tasks are gone with it; sandbox stopped")
		if err := c.store.Save(st); err != nil {
			log.G(ctx).WithError(err).WithField("sandbox", st.ID).Error("save sandbox state")
		}
		if err := h.Shutdown(ctx); err != nil { // a gone host cleans up after itself
			log.G(ctx).WithError(err).WithField("sandbox", st.ID).Warn("clean up after the pod server")
		}
	}()
}

// exitHostGone is a sandbox's exit status when its host (a pod server)
// died: as for a process killed by SIGKILL.
const exitHostGone = 137

// hostDir is where the host of sandbox id keeps its working files.
func (c *Controller) hostDir(id string) string {
	return filepath.Join(c.hostsDir, socketKey(id))
}

// socketPath is short whatever the sandbox id: sun_path holds 107 bytes.
func (c *Controller) socketPath(id string) string {
	return filepath.Join(c.socketDir, socketKey(id)+".sock")
}

// socketKey is a short, fixed-length name for sandbox id.
func socketKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}

// modeOf picks a new sandbox's runtime: the pod's annotation, else the
// sandboxer name containerd used (one proxy_plugins entry per RuntimeClass).
// A mode this daemon does not host is refused now, not at Start.
func (c *Controller) modeOf(r *api.ControllerCreateRequest) (Mode, error) {
	mode := cmp.Or(c.cfg.Sandboxers[r.Sandboxer], ModeGoroutine)
	if v, ok := podAnnotations(r)[AnnotationRuntime]; ok {
		if !slices.Contains(Modes, Mode(v)) {
			return "", fmt.Errorf("pod annotation %s=%q: want one of %q: %w", AnnotationRuntime, v, Modes, errdefs.ErrInvalidArgument)
		}
		mode = Mode(v)
	}
	if _, err := c.hosting(mode); err != nil {
		return "", fmt.Errorf("sandbox %q: %w", r.SandboxID, err)
	}
	return mode, nil
}

// podAnnotations are the request's annotations and, for CRI, the pod's.
func podAnnotations(r *api.ControllerCreateRequest) map[string]string {
	out := map[string]string{}
	if cfg := criConfig(r); cfg != nil {
		maps.Copy(out, cfg.Annotations)
	}
	maps.Copy(out, r.Annotations)
	return out
}

// criConfig is the pod's CRI PodSandboxConfig (CRI sends it as the
// options), or nil.
func criConfig(r *api.ControllerCreateRequest) *cri.PodSandboxConfig {
	if r.Options == nil {
		return nil
	}
	var cfg cri.PodSandboxConfig
	if !r.Options.MessageIs(&cfg) || r.Options.UnmarshalTo(&cfg) != nil {
		return nil
	}
	return &cfg
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

// all lists the sandboxes.
func (c *Controller) all() []*sandbox {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*sandbox, 0, len(c.sandboxes))
	for _, sb := range c.sandboxes {
		out = append(out, sb)
	}
	return out
}

// forget drops sandbox id from the map if it is still sb (a new sandbox
// may have taken the id since).
func (c *Controller) forget(id string, sb *sandbox) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sandboxes[id] == sb {
		delete(c.sandboxes, id)
	}
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
	if cfg := criConfig(r); cfg != nil {
		st.CgroupParent = cfg.GetLinux().GetCgroupParent()
	}
	c.mu.Lock()
	if _, ok := c.sandboxes[r.SandboxID]; ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, errdefs.ErrAlreadyExists)
	}
	sb := newSandbox(st)
	// Held until the state is saved: a concurrent Shutdown of the id
	// removes the state file after it was written, never before.
	sb.mu.Lock()
	defer sb.mu.Unlock()
	c.sandboxes[r.SandboxID] = sb
	c.mu.Unlock()
	if err := c.store.Save(st); err != nil {
		sb.removing = true
		c.forget(r.SandboxID, sb)
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
	if sb.removing {
		return nil, fmt.Errorf("sandbox %q is being shut down: %w", r.SandboxID, errdefs.ErrNotFound)
	}
	switch sb.state.Phase {
	case PhaseStopped:
		return nil, fmt.Errorf("sandbox %q is stopped: %w", r.SandboxID, errdefs.ErrFailedPrecondition)
	case PhaseCreated:
		if err := c.startHostLocked(ctx, sb); err != nil {
			return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, err)
		}
		sb.state.Phase = PhaseReady
		sb.state.StartedAt = time.Now().UTC()
		if err := c.store.Save(sb.state); err != nil {
			h := sb.host
			sb.host = nil
			h.Shutdown(ctx) //nolint:errcheck // the save error is the one to report
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
		Version:   sandboxapi.TaskAPIVersion,
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
	sb.mu.Lock()
	h := sb.host
	sb.mu.Unlock()
	if h != nil {
		if err := h.KillAll(ctx, time.Duration(r.TimeoutSecs)*time.Second); err != nil {
			return nil, fmt.Errorf("sandbox %q: stop tasks: %w", r.SandboxID, err)
		}
	}
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
	sb.mu.Lock()
	st, h := sb.state, sb.host
	sb.mu.Unlock()
	resp := &api.ControllerStatusResponse{
		SandboxID: st.ID,
		State:     sandboxapi.StateNotReady,
		CreatedAt: timestamppb.New(st.CreatedAt),
		Address:   st.Address,
		Version:   sandboxapi.TaskAPIVersion,
	}
	if st.Phase == PhaseReady {
		resp.State = sandboxapi.StateReady
	}
	if !st.ExitedAt.IsZero() {
		resp.ExitedAt = timestamppb.New(st.ExitedAt)
	}
	if r.Verbose {
		n, err := taskCount(ctx, h)
		tasks := fmt.Sprint(n)
		if err != nil {
			tasks = "unknown: " + err.Error()
		}
		resp.Info = map[string]string{
			"phase":              string(st.Phase),
			"tasks":              tasks,
			"netns":              st.NetNSPath,
			sandboxapi.InfoOwner: st.Annotations[sandboxapi.AnnotationOwner],
			"mode":               string(st.Mode),
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
	sb.mu.Lock()
	h := sb.host
	sb.host = nil
	sb.removing = true
	sb.mu.Unlock()
	if h != nil {
		if err := h.Shutdown(ctx); err != nil {
			sb.mu.Lock()
			sb.host = h
			sb.removing = false
			sb.mu.Unlock()
			return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, err)
		}
	}
	sb.markStopped(time.Now().UTC())
	if err := c.store.Remove(r.SandboxID); err != nil {
		return nil, err
	}
	c.forget(r.SandboxID, sb)
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
	sb.mu.Lock()
	h := sb.host
	sb.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("sandbox %q is not running: no metrics: %w", r.SandboxID, errdefs.ErrFailedPrecondition)
	}
	m, err := h.Metrics(ctx)
	if err != nil {
		return nil, fmt.Errorf("sandbox %q: %w", r.SandboxID, err)
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

// Close answers pending Waits with Unavailable and detaches from every
// host (Host.Detach: the daemon's endpoints stop, pod servers run on). Persisted state stays so a restarted daemon answers for
// every sandbox.
func (c *Controller) Close(ctx context.Context) {
	c.StopWaits()
	for _, sb := range c.all() {
		sb.mu.Lock()
		h := sb.host
		sb.host = nil
		sb.mu.Unlock()
		if h != nil {
			h.Detach(ctx)
		}
	}
}
