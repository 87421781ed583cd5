//go:build k8s

package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// fakeNodeExec is install.sh's HOST_EXEC in TestInstallerDaemonSet: the
// node's systemd is this machine's, not a test's to drive, so systemctl
// is recorded and answered, and what the script runs on the node (the
// installed wasm-sandboxer's status) runs from the scratch root.
const fakeNodeExec = `#!/bin/sh
echo "$*" >>/host/host-exec.log
case "$1" in
systemctl) exit 0 ;;
esac
cmd=$1
shift
exec "/host$cmd" "$@"
`

// TestInstallerDaemonSet: manifests/base's installer DaemonSet, unchanged
// but for where things are, runs its pod under runc (the image built by
// hack/installer-image.sh from make dist and Debian's static busybox):
// the init container installs into a scratch host root (the node's / in
// production), the node gets its label through the apiserver with the
// pod's service account, and the status container turns Ready when the
// daemon answers on the socket the DaemonSet mounts (here the devenv's
// own daemon).
func TestInstallerDaemonSet(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "fake-node-exec"), []byte(fakeNodeExec), 0o755); err != nil {
		t.Fatal(err)
	}
	// The apiserver advertises 127.0.0.1, so the kubernetes Service has no
	// endpoints here (the apiserver publishes none on loopback): the pod,
	// on the node's network, is pointed at the apiserver directly.
	apiPort, err := shared.port("apiserver")
	if err != nil {
		t.Fatal(err)
	}
	label := fmt.Sprintf("wasm-sandboxer.io/installer-test=%d", time.Now().UnixNano())
	key, value, _ := strings.Cut(label, "=")
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(repoRoot(), "manifests", "base")) // kustomize wants it relative
	if err != nil {
		t.Fatal(err)
	}
	kustomization := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - %s
images:
  - name: ghcr.io/wasm-sandboxer/wasm-sandboxer-installer
    newName: docker.io/library/wasm-sandboxer-installer
    newTag: latest
patches:
  - target: {kind: DaemonSet, name: wasm-sandboxer-installer}
    patch: |-
      - {op: add, path: /spec/template/spec/initContainers/0/imagePullPolicy, value: Never}
      - {op: add, path: /spec/template/spec/containers/0/imagePullPolicy, value: Never}
      - {op: replace, path: /spec/template/spec/volumes/0/hostPath/path, value: %q}
      - {op: replace, path: /spec/template/spec/volumes/1/hostPath/path, value: %q}
      - {op: add, path: /spec/template/spec/initContainers/0/env/-, value: {name: HOST_EXEC, value: /host/fake-node-exec}}
      - {op: add, path: /spec/template/spec/initContainers/0/env/-, value: {name: NODE_LABEL, value: %q}}
      - {op: add, path: /spec/template/spec/initContainers/0/env/-, value: {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}}
      - {op: add, path: /spec/template/spec/initContainers/0/env/-, value: {name: KUBERNETES_SERVICE_PORT, value: %q}}
      - {op: add, path: /spec/template/spec/initContainers/0/volumeMounts/-, value: {name: run, mountPath: /run/wasm-sandboxer, readOnly: true}}
`, base, root, shared.dir, label, apiPort)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	// The RuntimeClasses stay: every other test uses them.
	t.Cleanup(func() {
		for _, args := range [][]string{
			{"delete", "namespace", "wasm-sandboxer", "--timeout=120s"},
			{"delete", "clusterrolebinding,clusterrole", "wasm-sandboxer-installer"},
			{"label", "node", "localhost", key + "-"},
		} {
			if b, err := shared.kubectl("", args...); err != nil {
				t.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
			}
		}
	})
	kubectl(t, "apply", "--server-side", "-k", overlay)

	var p corev1.Pod
	eventually(t, 3*time.Minute, "the installer's pod Ready", func() (bool, string) {
		ps := pods(t, "wasm-sandboxer", "app.kubernetes.io/component=installer")
		if len(ps) != 1 {
			return false, podSummary(ps)
		}
		p = ps[0]
		if runningReady(p) {
			return true, ""
		}
		msg := podSummary(ps) + initSummary(p)
		if cs := p.Status.InitContainerStatuses; len(cs) == 1 && cs[0].RestartCount > 0 {
			b, _ := shared.kubectl("", "-n", "wasm-sandboxer", "logs", p.Name, "-c", "install", "--previous")
			msg += "; install's last run said:\n" + string(b)
		}
		return false, msg
	})
	if cs := p.Status.InitContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
		t.Errorf("install init container: %s", initSummary(p))
	}
	if b := kubectl(t, "-n", "wasm-sandboxer", "logs", p.Name, "-c", "install"); !strings.Contains(b, "install: done") {
		t.Errorf("install's log does not end with done:\n%s", b)
	}

	// What install.sh left on the "node".
	for path, want := range map[string]string{
		"usr/local/bin/wasm-sandboxer":              "",
		"usr/local/bin/wasm-sandboxer-worker":       "",
		"usr/local/bin/containerd-shim-wasm-v1":     "",
		"etc/systemd/system/wasm-sandboxer.service": "ExecStart=/usr/local/bin/wasm-sandboxer",
		"etc/containerd/conf.d/wasm-sandboxer.toml": "wasm-sandboxer",
		"etc/containerd/config.toml":                "/etc/containerd/conf.d/wasm-sandboxer.toml",
		"etc/default/wasm-sandboxer":                "--metrics-address 0.0.0.0:9464",
	} {
		b, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("installed file: %v", err)
		} else if !strings.Contains(string(b), want) {
			t.Errorf("%s does not hold %q:\n%.400s", path, want, b)
		}
	}
	log, err := os.ReadFile(filepath.Join(root, "host-exec.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"systemctl daemon-reload", "systemctl enable wasm-sandboxer.service",
		"systemctl restart wasm-sandboxer.service", "/usr/local/bin/wasm-sandboxer status -q", "systemctl restart containerd.service"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("install.sh did not run %q on the node; it ran:\n%s", want, log)
		}
	}

	var n corev1.Node
	getJSON(t, &n, "node", "localhost")
	if got := n.Labels[key]; got != value {
		t.Errorf("node label %s = %q, want %q (set by the installer through the apiserver)", key, got, value)
	}
}

// initSummary is p's init containers' states.
func initSummary(p corev1.Pod) string {
	var b strings.Builder
	for _, c := range p.Status.InitContainerStatuses {
		fmt.Fprintf(&b, " init [%s restarts=%d %s]", c.Name, c.RestartCount, containerState(c.State))
	}
	return b.String()
}
