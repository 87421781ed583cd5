// Command crilatency measures, through CRI as kubelet drives it, the time
// from CreateContainer to the container's exit being visible in
// ContainerStatus, over N runs in one pod, and prints the distribution.
//
//	crilatency -endpoint unix:///path/containerd.sock -image IMAGE [-n 20] [-handler wasm]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint, e.g. unix:///run/containerd/containerd.sock (required)")
	image := flag.String("image", "docker.io/library/wasm-hello:latest", "image of the container to run")
	handler := flag.String("handler", "wasm", "runtime handler of the pod")
	n := flag.Int("n", 20, "number of runs")
	logDir := flag.String("log-dir", os.TempDir(), "pod log directory")
	flag.Parse()
	if *endpoint == "" || *n < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*endpoint, *image, *handler, *logDir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "crilatency:", err)
		os.Exit(1)
	}
}

func run(endpoint, image, handler, logDir string, n int) error {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := cri.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	podCfg := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: "crilatency", Namespace: "default", Uid: fmt.Sprintf("crilatency-%d", os.Getpid())},
		LogDirectory: logDir,
	}
	pod, err := rs.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podCfg, RuntimeHandler: handler})
	if err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	defer func() {
		rs.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: pod.PodSandboxId})
		rs.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: pod.PodSandboxId})
	}()

	var samples, creates, starts []time.Duration
	for i := range n {
		cfg := &cri.ContainerConfig{
			Metadata: &cri.ContainerMetadata{Name: fmt.Sprintf("c%d", i)},
			Image:    &cri.ImageSpec{Image: image},
			LogPath:  fmt.Sprintf("c%d.log", i),
		}
		start := time.Now()
		c, err := rs.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: cfg, SandboxConfig: podCfg})
		if err != nil {
			return fmt.Errorf("CreateContainer: %w", err)
		}
		created := time.Now()
		if _, err := rs.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			return fmt.Errorf("StartContainer: %w", err)
		}
		creates = append(creates, created.Sub(start))
		starts = append(starts, time.Since(created))
		for {
			st, err := rs.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: c.ContainerId})
			if err != nil {
				return fmt.Errorf("ContainerStatus: %w", err)
			}
			if st.Status.State == cri.ContainerState_CONTAINER_EXITED {
				if st.Status.ExitCode != 0 {
					return fmt.Errorf("run %d exited %d", i, st.Status.ExitCode)
				}
				break
			}
		}
		samples = append(samples, time.Since(start))
		if _, err := rs.RemoveContainer(ctx, &cri.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
			return fmt.Errorf("RemoveContainer: %w", err)
		}
	}
	fmt.Printf("handler %s, image %s, %d runs:\n", handler, image, n)
	report("CreateContainer -> exit visible in ContainerStatus", samples)
	report("  of which CreateContainer", creates)
	report("  of which StartContainer", starts)
	return nil
}

func report(what string, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1)+0.5)].Round(time.Microsecond) }
	fmt.Printf("  %-52s min %v  median %v  p90 %v  max %v\n", what, q(0), q(0.5), q(0.9), q(1))
}
