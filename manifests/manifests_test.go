package manifests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization we use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []image  `json:"images"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// objects are the decoded manifests of a kustomization directory.
type objects struct {
	k       kustomization
	byKind  map[string][]any
	sources map[any]string
}

// newObject returns an empty object of a kind we ship.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "node.k8s.io/v1/RuntimeClass":
		return &nodev1.RuntimeClass{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	}
	return nil, fmt.Errorf("unexpected kind %s %s", apiVersion, kind)
}

func load(t *testing.T, dir string) objects {
	t.Helper()
	o := objects{byKind: map[string][]any{}, sources: map[any]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &o.k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if o.k.APIVersion != "kustomize.config.k8s.io/v1beta1" || o.k.Kind != "Kustomization" {
		t.Errorf("%s/kustomization.yaml: %s %s", dir, o.k.APIVersion, o.k.Kind)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(o.k.Resources, base) {
			t.Errorf("%s is not among the kustomization's resources", f)
		}
	}
	for _, r := range o.k.Resources {
		b, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatalf("resource %s: %v", r, err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			var tm struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s doc %d: %v", r, i, err)
			}
			obj, err := newObject(tm.APIVersion, tm.Kind)
			if err != nil {
				t.Fatalf("%s doc %d: %v", r, i, err)
			}
			// Strict: an unknown or duplicate field is an error, as a
			// field misspelt in a manifest would be dropped by the API.
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s doc %d (%s): %v", r, i, tm.Kind, err)
			}
			o.byKind[tm.Kind] = append(o.byKind[tm.Kind], obj)
			o.sources[obj] = r
		}
	}
	return o
}

func one[T any](t *testing.T, o objects, kind string) T {
	t.Helper()
	if len(o.byKind[kind]) != 1 {
		t.Fatalf("%d %s objects, want 1", len(o.byKind[kind]), kind)
	}
	return o.byKind[kind][0].(T)
}

// installLabel is the label install.sh puts on a node (its NODE_LABEL).
func installLabel(t *testing.T) (string, string) {
	b, err := os.ReadFile("../install/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "NODE_LABEL=${NODE_LABEL:-")
	if !ok {
		t.Fatal("install.sh has no NODE_LABEL default")
	}
	k, v, _ := strings.Cut(rest[:strings.Index(rest, "}")], "=")
	return k, v
}

func TestBase(t *testing.T) {
	o := load(t, "base")
	ns := one[*corev1.Namespace](t, o, "Namespace")
	if ns.Name != o.k.Namespace || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Errorf("namespace %s %v: want %s, privileged", ns.Name, ns.Labels, o.k.Namespace)
	}
	labelKey, labelValue := installLabel(t)
	var handlers []string
	for _, obj := range o.byKind["RuntimeClass"] {
		rc := obj.(*nodev1.RuntimeClass)
		handlers = append(handlers, rc.Handler)
		if rc.Name != rc.Handler {
			t.Errorf("RuntimeClass %s has handler %s", rc.Name, rc.Handler)
		}
		if errs := validation.IsDNS1123Label(rc.Handler); len(errs) > 0 {
			t.Errorf("handler %q: %v", rc.Handler, errs)
		}
		if rc.Scheduling == nil || rc.Scheduling.NodeSelector[labelKey] != labelValue {
			t.Errorf("RuntimeClass %s does not select nodes labelled %s=%s", rc.Name, labelKey, labelValue)
		}
	}
	// The handlers are the CRI runtimes of the containerd drop-in.
	dropin, err := os.ReadFile("../install/wasm-sandboxer.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range handlers {
		if !strings.Contains(string(dropin), "containerd.runtimes."+h+"]") || !strings.Contains(string(dropin), "[proxy_plugins."+h+"]") {
			t.Errorf("handler %s is not a runtime and proxy plugin of the drop-in", h)
		}
	}
	if !slices.Equal(handlers, []string{"wasm", "wasm-forked"}) {
		t.Errorf("handlers %v", handlers)
	}

	sa := one[*corev1.ServiceAccount](t, o, "ServiceAccount")
	ds := one[*appsv1.DaemonSet](t, o, "DaemonSet")
	role := one[*rbacv1.ClusterRole](t, o, "ClusterRole")
	binding := one[*rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding")
	spec := ds.Spec.Template.Spec
	if spec.ServiceAccountName != sa.Name || binding.Subjects[0].Name != sa.Name || binding.Subjects[0].Namespace != o.k.Namespace || binding.RoleRef.Name != role.Name {
		t.Errorf("service account %s, DaemonSet uses %s, binding %+v → %s", sa.Name, spec.ServiceAccountName, binding.Subjects, binding.RoleRef.Name)
	}
	// Least privilege: patch nodes, nothing else.
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"nodes"}) || !slices.Equal(role.Rules[0].Verbs, []string{"patch"}) {
		t.Errorf("ClusterRole rules %+v, want patch of nodes only", role.Rules)
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("DaemonSet selector %s=%s does not match its pods", k, v)
		}
	}
	if !spec.HostPID {
		t.Error("the installer needs hostPID to nsenter PID 1")
	}
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
		t.Fatalf("%d init containers, %d containers", len(spec.InitContainers), len(spec.Containers))
	}
	install := spec.InitContainers[0]
	if install.SecurityContext == nil || install.SecurityContext.Privileged == nil || !*install.SecurityContext.Privileged {
		t.Error("the install container must be privileged")
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range install.Env {
		env[e.Name] = e
	}
	if env["NODE_NAME"].ValueFrom == nil || env["NODE_NAME"].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Error("NODE_NAME does not come from spec.nodeName")
	}
	script, _ := os.ReadFile("../install/install.sh")
	for name := range env {
		if !strings.Contains(string(script), name) {
			t.Errorf("env %s is not read by install.sh", name)
		}
	}
	mounts := map[string]string{}
	for _, m := range install.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	vols := map[string]string{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v.HostPath.Path
	}
	if vols["host"] != "/" || mounts["host"] != env["HOST_ROOT"].Value {
		t.Errorf("HOST_ROOT %q, the node's / mounted at %q (volume %q)", env["HOST_ROOT"].Value, mounts["host"], vols["host"])
	}
	status := spec.Containers[0]
	sc := status.SecurityContext
	if sc == nil || sc.Privileged != nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("the status container is not locked down: %+v", sc)
	}
	probe := status.ReadinessProbe.Exec.Command
	if probe[1] != "status" || !strings.HasPrefix(probe[0], "/opt/wasm-sandboxer/bin/") {
		t.Errorf("readiness probe %q", probe)
	}
	// Images are named for kustomize to replace.
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if !slices.ContainsFunc(o.k.Images, func(i image) bool { return i.Name == c.Image }) {
			t.Errorf("container %s image %q is not in the kustomization's images", c.Name, c.Image)
		}
	}
	for _, objs := range o.byKind {
		for _, obj := range objs {
			if n := nameOf(obj); len(validation.IsDNS1123Subdomain(n)) > 0 {
				t.Errorf("%s: name %q", o.sources[obj], n)
			}
		}
	}
}

func nameOf(obj any) string {
	return obj.(interface{ GetName() string }).GetName()
}

func TestExamples(t *testing.T) {
	o := load(t, "examples")
	if len(o.byKind["Deployment"]) != 2 {
		t.Fatalf("%d Deployments, want 2 (the demo and the web service)", len(o.byKind["Deployment"]))
	}
	images := map[string]bool{}
	for _, im := range o.k.Images {
		images[im.Name] = true
	}
	for _, obj := range o.byKind["Deployment"] {
		d := obj.(*appsv1.Deployment)
		if rc := d.Spec.Template.Spec.RuntimeClassName; rc == nil || *rc != "wasm" {
			t.Errorf("%s: runtimeClassName %v, want wasm", d.Name, rc)
		}
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match its pods", d.Name, k, v)
			}
		}
		c := d.Spec.Template.Spec.Containers[0]
		if !images[c.Image] {
			t.Errorf("%s: image %q is not one of the kustomization's", d.Name, c.Image)
		}
		if len(c.Command) != 0 {
			t.Errorf("%s: command %q replaces the image's entrypoint (the module)", d.Name, c.Command)
		}
	}
	// The web service: a containerPort (all the runtime needs), probes on
	// it, and a Service selecting its pods.
	svc := one[*corev1.Service](t, o, "Service")
	var web *appsv1.Deployment
	for _, obj := range o.byKind["Deployment"] {
		if d := obj.(*appsv1.Deployment); d.Name == "wasm-httpd" {
			web = d
		}
	}
	if web == nil {
		t.Fatal("no wasm-httpd Deployment")
	}
	c := web.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Errorf("wasm-httpd container: ports %v, probes %v %v", c.Ports, c.ReadinessProbe, c.LivenessProbe)
	}
	for k, v := range svc.Spec.Selector {
		if web.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the web pods", k, v)
		}
	}
}

// TestStrictCatchesTypos pins that a misspelt field fails the tests.
func TestStrictCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: wasm}\nhandler: wasm\nschedulng: {}\n")
	if err := yaml.UnmarshalStrict(doc, &nodev1.RuntimeClass{}); err == nil {
		t.Fatal("a misspelt field decoded")
	}
}
