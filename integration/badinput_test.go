//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/testing/tiny"
)

const hostileImage = "docker.io/library/wasm-hostile:latest"

var hostileOnce sync.Once

// importHostile packages tiny.Hostile()'s modules (and hello.wasm) as
// wasm-hostile:latest with the project's wasm-image and imports it.
func importHostile(t *testing.T) {
	t.Helper()
	hostileOnce.Do(func() {
		dir := t.TempDir()
		args := []string{"-name", "wasm-hostile:latest", "-o", filepath.Join(dir, "hostile.tar"), "-path", "/hello.wasm"}
		for name, bin := range tiny.Hostile() {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, bin, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-file", p+":/"+name)
		}
		hello := filepath.Join(dir, "hello.wasm")
		if err := os.WriteFile(hello, tiny.Modules()["hello.wasm"], 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(filepath.Join(shared.out, "bin", "wasm-image"), append(args, "-module", hello)...).CombinedOutput(); err != nil {
			t.Fatalf("wasm-image: %v\n%s", err, b)
		}
		if out, err := ctrIn(t, "k8s.io", "", "images", "import", filepath.Join(dir, "hostile.tar")); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
	})
}

// witnesses are a running container in a pod of each runtime; check
// asserts after each bad request that they all still run and that a new
// container still runs to exit 0.
type witnesses []witness

type witness struct {
	p  *pod
	id string
}

func startWitnesses(t *testing.T) witnesses {
	t.Helper()
	var w witnesses
	for _, handler := range handlers {
		p := runPodWith(t, handler)
		w = append(w, witness{p, p.running(t, container{image: tinyImage, command: []string{"/spin.wasm"}})})
	}
	return w
}

func (w witnesses) check(t *testing.T, after string) {
	t.Helper()
	for _, x := range w {
		if st := status(t, x.id); st.State != cri.ContainerState_CONTAINER_RUNNING {
			t.Fatalf("after %s: witness container %s (%s) is %v", after, x.id, x.p.handler, st.State)
		}
		ps, err := shared.runtime.PodSandboxStatus(ctx(t), &cri.PodSandboxStatusRequest{PodSandboxId: x.p.id})
		if err != nil || ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
			t.Fatalf("after %s: witness pod %s: %v, %v", after, x.p.id, ps.GetStatus().GetState(), err)
		}
	}
	p := runPod(t, hostNetwork)
	st, lines := runToExit(t, p, container{image: helloImage})
	if st.ExitCode != 0 || !slices.Equal(streamLines(lines, "stdout"), []string{"hello from wasm"}) {
		t.Fatalf("after %s: a new container exited %d with %q", after, st.ExitCode, lines)
	}
}

// startFails starts id and asserts StartContainer fails naming want, and
// that the container is not reported running.
func startFails(t *testing.T, what, id, want string) {
	t.Helper()
	if err := startErr(t, id); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: StartContainer: %v, want an error naming %q", what, err, want)
	}
}

// TestBadInputCRI sends bad requests through CRI; after each, the daemon
// and every other pod are untouched.
func TestBadInputCRI(t *testing.T) {
	importHostile(t)
	w := startWitnesses(t)
	w.check(t, "start")

	t.Run("hostile modules", func(t *testing.T) {
		forEachRuntime(t, func(t *testing.T, p *pod) {
			for name, want := range map[string]string{
				"hugelocals.wasm":  "more than 50000 locals",
				"hugesection.wasm": "invalid WebAssembly",
				"hugevec.wasm":     "invalid WebAssembly",
				"overmem.wasm":     "invalid WebAssembly",
				"truncated.wasm":   "invalid WebAssembly",
				"bigtable.wasm":    "table min must be at most",
				"bigmem.wasm":      "above its limit",
			} {
				startFails(t, name, p.create(t, container{image: hostileImage, command: []string{"/" + name}}), want)
				w.check(t, name)
			}
			st, _ := runToExit(t, p, container{image: hostileImage, command: []string{"/recurse.wasm"}})
			if st.ExitCode != 134 {
				t.Fatalf("deep recursion: exit %d, want 134 (a trap)", st.ExitCode)
			}
			w.check(t, "deep recursion")
		})
	})

	t.Run("memory minimum above the CRI memory limit", func(t *testing.T) {
		p := runPod(t)
		id := p.create(t, container{image: hostileImage, command: []string{"/bigmem.wasm"}, config: withMemoryLimit(8 << 20)})
		startFails(t, "bigmem under 8 MiB", id, "above its limit of 128 pages")
		w.check(t, "memory limit")
	})

	t.Run("huge args", func(t *testing.T) {
		p := runPod(t)
		id := p.create(t, container{image: helloImage, args: []string{strings.Repeat("a", 2<<20)}})
		startFails(t, "2 MiB argument", id, "process.args+env total")
		many := make([]string, 5000)
		for i := range many {
			many[i] = "x"
		}
		startFails(t, "5,000 arguments", p.create(t, container{image: helloImage, args: many}), "process.args has 5001 entries")
		w.check(t, "huge args")
	})

	t.Run("unknown ids on every CRI call", func(t *testing.T) {
		const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		c := ctx(t)
		notFound := map[string]error{}
		_, notFound["ContainerStatus"] = shared.runtime.ContainerStatus(c, &cri.ContainerStatusRequest{ContainerId: id})
		_, notFound["StartContainer"] = shared.runtime.StartContainer(c, &cri.StartContainerRequest{ContainerId: id})
		_, notFound["PodSandboxStatus"] = shared.runtime.PodSandboxStatus(c, &cri.PodSandboxStatusRequest{PodSandboxId: id})
		_, notFound["ContainerStats"] = shared.runtime.ContainerStats(c, &cri.ContainerStatsRequest{ContainerId: id})
		_, notFound["ExecSync"] = shared.runtime.ExecSync(c, &cri.ExecSyncRequest{ContainerId: id, Cmd: []string{"x"}})
		_, notFound["UpdateContainerResources"] = shared.runtime.UpdateContainerResources(c, &cri.UpdateContainerResourcesRequest{ContainerId: id})
		_, notFound["ReopenContainerLog"] = shared.runtime.ReopenContainerLog(c, &cri.ReopenContainerLogRequest{ContainerId: id})
		_, notFound["CreateContainer in an unknown pod"] = shared.runtime.CreateContainer(c, &cri.CreateContainerRequest{PodSandboxId: id,
			Config: &cri.ContainerConfig{Metadata: &cri.ContainerMetadata{Name: "x"}, Image: &cri.ImageSpec{Image: helloImage}}, SandboxConfig: &cri.PodSandboxConfig{}})
		for name, err := range notFound {
			if grpcstatus.Code(err) != codes.NotFound {
				t.Errorf("%s of an unknown id: %v, want NotFound", name, err)
			}
		}
		// The stop and remove calls are idempotent in CRI: nil.
		idempotent := map[string]error{}
		_, idempotent["StopContainer"] = shared.runtime.StopContainer(c, &cri.StopContainerRequest{ContainerId: id})
		_, idempotent["RemoveContainer"] = shared.runtime.RemoveContainer(c, &cri.RemoveContainerRequest{ContainerId: id})
		_, idempotent["StopPodSandbox"] = shared.runtime.StopPodSandbox(c, &cri.StopPodSandboxRequest{PodSandboxId: id})
		_, idempotent["RemovePodSandbox"] = shared.runtime.RemovePodSandbox(c, &cri.RemovePodSandboxRequest{PodSandboxId: id})
		for name, err := range idempotent {
			if err != nil {
				t.Errorf("%s of an unknown id: %v, want nil", name, err)
			}
		}
		w.check(t, "unknown ids")
	})

	t.Run("concurrent run and remove of one pod", func(t *testing.T) {
		n := seq.Add(1)
		cfg := &cri.PodSandboxConfig{Metadata: &cri.PodSandboxMetadata{Name: fmt.Sprintf("same-%d", n), Namespace: "default", Uid: fmt.Sprintf("same-uid-%d", n)}}
		// Host network: concurrent StopPodSandbox calls race in
		// containerd's own CNI teardown ("failed to delete eth0: no such
		// device", 2 runs in 15 on the pod network), which is not ours to
		// test; the daemon's handling of one id is the same either way.
		hostNetwork(cfg)
		var mu sync.Mutex
		var ids []string
		var refused []error
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				r, err := shared.runtime.RunPodSandbox(ctx(t), &cri.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "wasm"})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					refused = append(refused, err)
					return
				}
				ids = append(ids, r.PodSandboxId)
			})
		}
		wg.Wait()
		if len(ids) != 1 {
			t.Fatalf("4 concurrent RunPodSandbox of one name: %d pods, want 1 (refused: %v)", len(ids), refused)
		}
		for _, err := range refused {
			if !strings.Contains(err.Error(), "reserve") {
				t.Errorf("concurrent RunPodSandbox refused with %v, want a name reservation error", err)
			}
		}
		for range 4 {
			wg.Go(func() {
				if err := removePod(ctx(t), ids[0]); err != nil {
					t.Errorf("concurrent stop and remove: %v", err)
				}
			})
		}
		wg.Wait()
		if _, err := shared.runtime.PodSandboxStatus(ctx(t), &cri.PodSandboxStatusRequest{PodSandboxId: ids[0]}); grpcstatus.Code(err) != codes.NotFound {
			t.Fatalf("removed pod: %v, want NotFound", err)
		}
		w.check(t, "concurrent run and remove")
	})
}
