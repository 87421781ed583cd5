package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fig7: through CRI as kubelet drives it, from RunPodSandbox to the
// container RUNNING, for each runtime handler ("" is runc, whose pod is the
// pause image built from hack/pause).
func (r *runner) fig7(ctx context.Context) error {
	f := r.figure(7, "CRI: pod + container to running", "ms", "",
		"RunPodSandbox (pod network through CNI) + CreateContainer + StartContainer until ContainerStatus says RUNNING, a sleeping program; runc's pod runs the pause image; teardown off the clock; ratio to runc")
	conn, err := grpc.NewClient("unix://"+r.sock(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := cri.NewRuntimeServiceClient(conn)
	for _, h := range []struct {
		row, handler, image string
		args                []string
	}{
		{rowGoroutine, "wasm", imgDemo, []string{"/demo.wasm", "sleep", "3600"}},
		{rowForkedWarm, "wasm-forked", imgDemo, []string{"/demo.wasm", "sleep", "3600"}},
		{rowRunc, "", imgNative, []string{"/demo", "sleep", "3600"}},
	} {
		logf("figure 7: %s, %d pods", h.row, r.sz.cri)
		var lat []time.Duration
		var runErr error
		st := newSteps()
		for i := range r.sz.cri + 1 { // the first is a warm-up
			rec := st
			if i == 0 {
				rec = nil
			}
			d, err := r.criPod(ctx, rs, fmt.Sprintf("f7-%s-%d", slug(h.row), i), h.handler, h.image, h.args, rec)
			if err != nil {
				runErr = err
				break
			}
			if i > 0 {
				lat = append(lat, d)
			}
		}
		row := latencyRow(h.row, lat, runErr)
		row.Steps = st.summaries()
		f.Rows = append(f.Rows, row)
	}
	f.SetRatios(rowRunc)
	return nil
}

// criCgroupRoot is where figure 7's pods get their cgroups, as kubelet's
// cgroupfs driver gives each pod one (/kubepods/<qos>/pod<uid>) and CRI
// makes the containers' cgroups in it.
const criCgroupRoot = "/wasm-bench"

func (r *runner) criPod(ctx context.Context, rs cri.RuntimeServiceClient, name, handler, image string, args []string, st *steps) (time.Duration, error) {
	cgroupParent := criCgroupRoot + "/pod-" + name
	podCfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: name, Namespace: "bench", Uid: name},
		LogDirectory: filepath.Join(r.dir, "logs", name),
		Linux:        &cri.LinuxPodSandboxConfig{CgroupParent: cgroupParent},
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st.begin()
	t0 := time.Now()
	pod, err := rs.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podCfg, RuntimeHandler: handler})
	if err != nil {
		return 0, fmt.Errorf("RunPodSandbox (handler %q): %w", handler, err)
	}
	st.mark(stepRunPod)
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		rs.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		rs.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		removeCgroups(cgroupParent) // kubelet's job; the pod's are gone by now
	}()
	c, err := rs.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, SandboxConfig: podCfg,
		Config: &cri.ContainerConfig{Metadata: &cri.ContainerMetadata{Name: "c"}, Image: &cri.ImageSpec{Image: image},
			Command: args, LogPath: "c.log"}})
	if err != nil {
		return 0, fmt.Errorf("CreateContainer: %w", err)
	}
	st.mark(stepCreateCtr)
	if _, err := rs.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return 0, fmt.Errorf("StartContainer: %w", err)
	}
	st.mark(stepStartCtr)
	for {
		cs, err := rs.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: c.ContainerId})
		if err != nil {
			return 0, fmt.Errorf("ContainerStatus: %w", err)
		}
		switch cs.Status.State {
		case cri.ContainerState_CONTAINER_RUNNING:
			d := time.Since(t0)
			st.mark(stepRunningCtr)
			return d, nil
		case cri.ContainerState_CONTAINER_EXITED:
			return 0, fmt.Errorf("container exited %d: %s", cs.Status.ExitCode, cs.Status.Message)
		}
		if time.Since(t0) > time.Minute {
			return 0, fmt.Errorf("not running after a minute")
		}
	}
}

// removeCgroups removes cgroup p (cgroupfs path) from every hierarchy it
// is in, best effort: what kubelet does with a pod's cgroup once the pod is
// gone. The pod's containers' cgroups must be gone already.
func removeCgroups(p string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", p))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", p))
	for _, d := range dirs {
		os.Remove(d)
		os.Remove(filepath.Dir(d)) // the bench's root, once empty
	}
}
