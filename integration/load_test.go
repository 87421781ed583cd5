//go:build integration

package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestLoad runs WASM_SANDBOXER_LOAD_PODS pods (make test-long: 1,000)
// through CRI with 4 clients, each doing RunPodSandbox, CreateContainer,
// StartContainer, waiting for the exit and removing everything, while a
// fifth client stops random running containers with timeout 0. One pod in
// four runs a module that sleeps 2 s (the kill targets), the others the
// tiny hello module. Every started container must reach EXITED with an
// expected code: 0, or 137/143 for a killed one; no call may fail.
func TestLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WASM_SANDBOXER_LOAD_PODS"))
	if n <= 0 {
		t.Skip("set WASM_SANDBOXER_LOAD_PODS (make test-long runs 1,000)")
	}
	const clients = 4
	var (
		mu       sync.Mutex
		sleepers = map[string]bool{} // running kill targets
		codes    = map[int32]int{}
		stopped  = map[string]bool{} // stopped by the killer
		errs     []string
		started  int
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	work := make(chan int)
	done := make(chan struct{})
	begin := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range work {
				if err := onePod(t, i, i%4 == 0, func(id string, sleeping bool) {
					mu.Lock()
					started++
					if sleeping {
						sleepers[id] = true
					}
					mu.Unlock()
				}, func(id string, code int32) {
					mu.Lock()
					delete(sleepers, id)
					codes[code]++
					if code != 0 && !(stopped[id] && (code == 137 || code == 143)) {
						errs = append(errs, fmt.Sprintf("container %s exited %d (stopped by the killer: %v)", id, code, stopped[id]))
					}
					mu.Unlock()
				}); err != nil {
					fail("pod %d: %v", i, err)
				}
			}
		})
	}
	var killer sync.WaitGroup
	kills := 0
	killer.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
			}
			mu.Lock()
			var target string
			for id := range sleepers { // map order is random
				target = id
				break
			}
			if target != "" {
				delete(sleepers, target)
				stopped[target] = true
			}
			mu.Unlock()
			if target == "" {
				continue
			}
			kills++
			if _, err := shared.runtime.StopContainer(ctx(t), &cri.StopContainerRequest{ContainerId: target, Timeout: 0}); err != nil {
				fail("StopContainer %s: %v", target, err)
			}
		}
	})
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(done)
	killer.Wait()
	elapsed := time.Since(begin)
	exited := 0
	for _, k := range codes {
		exited += k
	}
	t.Logf("%d pods, %d containers started, %d exited (codes %v), %d stopped by the killer, in %v: %.1f pods/s",
		n, started, exited, codes, kills, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	if exited != started {
		t.Errorf("%d containers started, %d exits seen: lost exits", started, exited)
	}
	for i, e := range errs {
		if i == 20 {
			t.Errorf("... and %d more", len(errs)-20)
			break
		}
		t.Error(e)
	}
}

// onePod runs pod i with one container (a 2 s sleeper when sleeping, else
// hello), reports the start and the exit code, and removes the pod.
func onePod(t *testing.T, i int, sleeping bool, started func(id string, sleeping bool), exited func(id string, code int32)) error {
	c := ctx(t)
	cfg := &cri.PodSandboxConfig{
		Metadata: &cri.PodSandboxMetadata{Name: fmt.Sprintf("load-%d", i), Namespace: "load", Uid: fmt.Sprintf("load-%d-%d", os.Getpid(), i)},
	}
	hostNetwork(cfg)
	pod, err := shared.runtime.RunPodSandbox(c, &cri.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "wasm"})
	if err != nil {
		return fmt.Errorf("RunPodSandbox: %w", err)
	}
	ccfg := &cri.ContainerConfig{Metadata: &cri.ContainerMetadata{Name: "c"}, Image: &cri.ImageSpec{Image: helloImage}}
	if sleeping {
		ccfg.Image.Image, ccfg.Args = demoImage, []string{"sleep", "2"}
	}
	cr, err := shared.runtime.CreateContainer(c, &cri.CreateContainerRequest{PodSandboxId: pod.PodSandboxId, Config: ccfg, SandboxConfig: cfg})
	if err != nil {
		return fmt.Errorf("CreateContainer: %w", err)
	}
	id := cr.ContainerId
	if _, err := shared.runtime.StartContainer(c, &cri.StartContainerRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("StartContainer: %w", err)
	}
	started(id, sleeping)
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := shared.runtime.ContainerStatus(c, &cri.ContainerStatusRequest{ContainerId: id})
		if err != nil {
			return fmt.Errorf("ContainerStatus: %w", err)
		}
		if st.Status.State == cri.ContainerState_CONTAINER_EXITED {
			exited(id, st.Status.ExitCode)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s still %v after 60 s: lost exit", id, st.Status.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := shared.runtime.RemoveContainer(c, &cri.RemoveContainerRequest{ContainerId: id}); err != nil {
		return fmt.Errorf("RemoveContainer: %w", err)
	}
	return removePod(c, pod.PodSandboxId)
}
