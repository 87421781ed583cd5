package install

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// node is a fake node root plus the stubs install.sh calls.
type node struct {
	t     *testing.T
	root  string // the node's "/"
	src   string // the installer's dir in the image (bin/ + config files)
	calls string // every stubbed command appends a line here
	stubs string
}

const fakeDaemon = "#!/bin/sh\necho \"wasm-sandboxer $*\" >>\"$CALLS\"\n"

func newNode(t *testing.T) *node {
	t.Helper()
	d := t.TempDir()
	n := &node{t: t, root: filepath.Join(d, "host"), src: filepath.Join(d, "opt"), calls: filepath.Join(d, "calls"), stubs: filepath.Join(d, "stubs")}
	for _, dir := range []string{n.root, filepath.Join(n.src, "bin"), n.stubs} {
		must(t, os.MkdirAll(dir, 0o755))
	}
	for _, f := range []string{"install.sh", "wasm-sandboxer.service", "wasm-sandboxer.toml"} {
		b, err := os.ReadFile(f)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(n.src, f), b, 0o755))
	}
	n.binaries("v1")
	// nsenter runs the rest of its arguments "on the node": an absolute
	// path resolves under the fake root, as after entering PID 1's mount
	// namespace.
	n.stub("nsenter", `echo "nsenter $*" >>"$CALLS"
while [ "$1" != "--" ]; do shift; done; shift
case "$1" in /*) c="$HOST_ROOT$1"; shift; exec "$c" "$@";; *) exec "$@";; esac`)
	n.stub("systemctl", `echo "systemctl $*" >>"$CALLS"`)
	return n
}

// binaries puts binaries of a version in the image.
func (n *node) binaries(version string) {
	for _, b := range []string{"wasm-sandboxer", "wasm-sandboxer-worker", "containerd-shim-wasm-v1"} {
		body := "#!/bin/sh\n# " + version + "\n"
		if b == "wasm-sandboxer" {
			body = fakeDaemon + "# " + version + "\n"
		}
		must(n.t, os.WriteFile(filepath.Join(n.src, "bin", b), []byte(body), 0o755))
	}
}

func (n *node) stub(name, body string) {
	must(n.t, os.WriteFile(filepath.Join(n.stubs, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

func (n *node) write(path, content string) {
	p := filepath.Join(n.root, path)
	must(n.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(n.t, os.WriteFile(p, []byte(content), 0o644))
}

func (n *node) read(path string) string {
	b, err := os.ReadFile(filepath.Join(n.root, path))
	must(n.t, err)
	return string(b)
}

// install runs install.sh as the DaemonSet does and returns the commands
// it ran on the node, and its output.
func (n *node) install(env ...string) (calls []string, out string, err error) {
	os.Remove(n.calls)
	cmd := exec.Command("/bin/sh", filepath.Join(n.src, "install.sh"))
	cmd.Env = append([]string{"PATH=" + n.stubs + ":" + os.Getenv("PATH"), "HOST_ROOT=" + n.root, "CALLS=" + n.calls, "NODE_NAME=node-1"}, env...)
	b, err := cmd.CombinedOutput()
	c, _ := os.ReadFile(n.calls)
	for _, l := range strings.Split(strings.TrimSpace(string(c)), "\n") {
		if l != "" && !strings.HasPrefix(l, "nsenter ") {
			calls = append(calls, l)
		}
	}
	return calls, string(b), err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

const status = "wasm-sandboxer status -q --address /run/wasm-sandboxer/sandboxer.sock --timeout 60s"

func TestFreshNode(t *testing.T) {
	n := newNode(t)
	calls, out, err := n.install()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	equal(t, "first install", calls, []string{
		"systemctl daemon-reload",
		"systemctl enable wasm-sandboxer.service",
		"systemctl restart wasm-sandboxer.service",
		status,
		"systemctl restart containerd.service",
		"wasm-sandboxer label-node --node node-1 wasm-sandboxer.io/ready=true",
	})
	// No config at all: a minimal version 3 config with just the import.
	if got := n.read("etc/containerd/config.toml"); got != "version = 3\nimports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\"]\n" {
		t.Errorf("config.toml:\n%s", got)
	}
	for _, b := range []string{"wasm-sandboxer", "wasm-sandboxer-worker", "containerd-shim-wasm-v1"} {
		if fi, err := os.Stat(filepath.Join(n.root, "usr/local/bin", b)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s on the node: %v", b, err)
		}
	}
	unit := n.read("etc/systemd/system/wasm-sandboxer.service")
	for _, want := range []string{"Type=notify", "Restart=always", "KillMode=process", "Delegate=yes", "ExecStart=/usr/local/bin/wasm-sandboxer "} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	checkDropIn(t, n.read("etc/containerd/conf.d/wasm-sandboxer.toml"))

	// Again, nothing changed: nothing is restarted, nothing rewritten.
	calls, out, err = n.install()
	if err != nil {
		t.Fatalf("second install: %v\n%s", err, out)
	}
	equal(t, "second install", calls, []string{
		"systemctl enable wasm-sandboxer.service",
		"systemctl start wasm-sandboxer.service",
		status,
		"wasm-sandboxer label-node --node node-1 wasm-sandboxer.io/ready=true",
	})
	if !strings.Contains(out, "containerd not restarted") {
		t.Errorf("output does not say containerd was left alone:\n%s", out)
	}

	// A new version of the binaries restarts the daemon, not containerd.
	n.binaries("v2")
	calls, out, err = n.install("NODE_NAME=")
	if err != nil {
		t.Fatalf("upgrade: %v\n%s", err, out)
	}
	equal(t, "upgrade", calls, []string{
		"systemctl enable wasm-sandboxer.service",
		"systemctl restart wasm-sandboxer.service",
		status,
	})
}

// checkDropIn decodes the drop-in as containerd would read its tables.
func checkDropIn(t *testing.T, s string) {
	t.Helper()
	var cfg struct {
		Version      int
		ProxyPlugins map[string]struct{ Type, Address string } `toml:"proxy_plugins"`
		Plugins      map[string]struct {
			Containerd struct {
				Runtimes map[string]map[string]any
			}
		}
	}
	if err := toml.Unmarshal([]byte(s), &cfg); err != nil {
		t.Fatalf("drop-in: %v", err)
	}
	if cfg.Version != 3 {
		t.Errorf("drop-in version %d, want 3", cfg.Version)
	}
	rts := cfg.Plugins["io.containerd.cri.v1.runtime"].Containerd.Runtimes
	for _, name := range []string{"wasm", "wasm-forked"} {
		p := cfg.ProxyPlugins[name]
		if p.Type != "sandbox" || p.Address != "/run/wasm-sandboxer/sandboxer.sock" {
			t.Errorf("proxy_plugins.%s = %+v", name, p)
		}
		rt := rts[name]
		if rt["runtime_type"] != "io.containerd.wasm.v1" || rt["sandboxer"] != name || rt["disable_pause_image_pull"] != true {
			t.Errorf("runtime %s = %v", name, rt)
		}
		if _, ok := rt["options"]; ok {
			t.Errorf("runtime %s has an options table", name)
		}
		// Ports reach the spec: kubelet's containerPorts and ours.
		if ca := fmt.Sprint(rt["container_annotations"]); !strings.Contains(ca, "io.kubernetes.container.ports") || !strings.Contains(ca, "wasm-sandboxer.io/ports") {
			t.Errorf("runtime %s container_annotations = %v", name, rt["container_annotations"])
		}
	}
}

func TestUserConfigKept(t *testing.T) {
	for name, tc := range map[string]struct{ before, after string }{
		"no imports": {
			before: "version = 3\nroot = \"/var/lib/containerd\"\n\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = \"overlayfs\"\n",
			after:  "imports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\"] # added by wasm-sandboxer install.sh\nversion = 3\nroot = \"/var/lib/containerd\"\n\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = \"overlayfs\"\n",
		},
		"other imports": {
			before: "version = 3\nimports = [\"/etc/containerd/gpu.toml\"]\n[grpc]\n  address = \"/run/containerd/containerd.sock\"\n",
			after:  "version = 3\nimports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\", \"/etc/containerd/gpu.toml\"]\n[grpc]\n  address = \"/run/containerd/containerd.sock\"\n",
		},
		"empty imports": {
			before: "version = 3\nimports = []\n",
			after:  "version = 3\nimports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\"]\n",
		},
		"multi-line imports": {
			before: "version = 3\nimports = [\n  \"/etc/containerd/a.toml\",\n]\n",
			after:  "version = 3\nimports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\", \n  \"/etc/containerd/a.toml\",\n]\n",
		},
		"an imports key inside a table is not the top-level one": {
			before: "version = 3\n[x]\nimports = [\"y\"]\n",
			after:  "imports = [\"/etc/containerd/conf.d/wasm-sandboxer.toml\"] # added by wasm-sandboxer install.sh\nversion = 3\n[x]\nimports = [\"y\"]\n",
		},
		"imported already": {
			before: "version = 3\nimports = ['/etc/containerd/conf.d/wasm-sandboxer.toml']\n",
			after:  "version = 3\nimports = ['/etc/containerd/conf.d/wasm-sandboxer.toml']\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			n := newNode(t)
			n.write("etc/containerd/config.toml", tc.before)
			if _, out, err := n.install(); err != nil {
				t.Fatalf("install: %v\n%s", err, out)
			}
			got := n.read("etc/containerd/config.toml")
			if got != tc.after {
				t.Errorf("config.toml:\n%s\nwant:\n%s", got, tc.after)
			}
			var v struct{ Imports []string }
			if err := toml.Unmarshal([]byte(got), &v); err != nil || v.Imports[0] != "/etc/containerd/conf.d/wasm-sandboxer.toml" {
				t.Errorf("config.toml does not decode with the drop-in first in its imports: %v, %v", v.Imports, err)
			}
			if tc.before != tc.after && n.read("etc/containerd/config.toml.orig-wasm-sandboxer") != tc.before {
				t.Error("the original config was not kept")
			}
			// Run again: the import is found, the file stays as it is.
			calls, out, err := n.install()
			if err != nil {
				t.Fatalf("second install: %v\n%s", err, out)
			}
			if n.read("etc/containerd/config.toml") != got {
				t.Error("a second install changed the config again")
			}
			for _, c := range calls {
				if strings.Contains(c, "containerd.service") {
					t.Errorf("second install restarted containerd: %q", calls)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	n := newNode(t)
	n.write("etc/containerd/config.toml", "version = 2\n")
	calls, out, err := n.install()
	if err == nil || !strings.Contains(out, "containerd config migrate") {
		t.Fatalf("a version 2 config: %v\n%s", err, out)
	}
	if len(calls) != 0 {
		t.Errorf("ran %q after refusing", calls)
	}
	if n.read("etc/containerd/config.toml") != "version = 2\n" {
		t.Error("a refused config was changed")
	}

	n = newNode(t)
	os.Remove(filepath.Join(n.src, "bin", "wasm-sandboxer-worker"))
	if _, out, err := n.install(); err == nil || !strings.Contains(out, "wasm-sandboxer-worker is missing") {
		t.Errorf("a missing binary: %v\n%s", err, out)
	}

	// A daemon that never answers fails the install before containerd is
	// restarted (kubelet then retries the init container).
	n = newNode(t)
	n.binaries("v1")
	must(t, os.WriteFile(filepath.Join(n.src, "bin", "wasm-sandboxer"), []byte(fakeDaemon+"exit 1\n"), 0o755))
	calls, out, err = n.install()
	if err == nil || !strings.Contains(out, "does not answer") {
		t.Fatalf("a daemon that does not answer: %v\n%s", err, out)
	}
	for _, c := range calls {
		if strings.Contains(c, "containerd.service") {
			t.Errorf("containerd restarted though the daemon does not answer: %q", calls)
		}
	}
}

func TestDaemonOptions(t *testing.T) {
	n := newNode(t)
	opts := "WASM_SANDBOXER_OPTS=--metrics-address 0.0.0.0:9464 --log-format json"
	if _, out, err := n.install(opts); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if got := n.read("etc/default/wasm-sandboxer"); !strings.Contains(got, "\nWASM_SANDBOXER_OPTS=\"--metrics-address 0.0.0.0:9464 --log-format json\"\n") {
		t.Errorf("/etc/default/wasm-sandboxer:\n%s", got)
	}
	calls, out, err := n.install(opts)
	if err != nil || !slices.Contains(calls, "systemctl start wasm-sandboxer.service") {
		t.Errorf("same options: %q, %v\n%s", calls, err, out)
	}
	calls, out, err = n.install("WASM_SANDBOXER_OPTS=--log-level debug")
	if err != nil || !slices.Contains(calls, "systemctl restart wasm-sandboxer.service") || slices.Contains(calls, "systemctl restart containerd.service") {
		t.Errorf("new options: %q, %v\n%s", calls, err, out)
	}
	if _, out, err := n.install(`WASM_SANDBOXER_OPTS=--x "$(reboot)"`); err == nil || !strings.Contains(out, "must not hold quotes") {
		t.Errorf("options with quotes: %v\n%s", err, out)
	}
}
