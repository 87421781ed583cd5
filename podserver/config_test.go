package podserver

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestConfigRoundTrip(t *testing.T) {
	want := Config{Sandbox: "pod-1", Socket: "/run/wasm-sandboxer/s/0123.sock", Dir: "/run/wasm-sandboxer/pods/0123",
		NetNS: "/var/run/netns/cni-1", CgroupParent: "/kubepods/besteffort/pod1234",
		ContainerdAddress: "/run/containerd/containerd.sock", CompileCache: "/run/wasm-sandboxer/compile-cache",
		CompiledMemo: "/run/wasm-sandboxer/compiled-modules", WorkerBinary: "/usr/local/bin/wasm-sandboxer-worker",
		WorkerPoolSize: 3, WorkerPoolIdle: 30 * time.Second, LogLevel: "debug", LogFormat: "json"}
	doc, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadConfig(strings.NewReader(string(doc)))
	if err != nil || got != want {
		t.Fatalf("read back %+v, %v\nwant %+v", got, err, want)
	}
	// Optional values may be absent; zero is a valid pool.
	want.NetNS, want.CgroupParent, want.CompiledMemo, want.WorkerPoolSize, want.WorkerPoolIdle = "", "", "", 0, 0
	doc, _ = want.Encode()
	if got, err := ReadConfig(strings.NewReader(string(doc))); err != nil || got != want {
		t.Fatalf("read back %+v, %v\nwant %+v", got, err, want)
	}
}

// TestConfigMalformed: a config the pod server cannot use is refused with
// an error that says what is wrong with it.
func TestConfigMalformed(t *testing.T) {
	good := configFor("/s.sock")
	doc, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	full := string(doc)
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", "", "empty"},
		{"blank", " \n", "empty"},
		{"truncated", full[:len(full)/2], "unexpected EOF"},
		{"not an object", `["sb-1"]`, "cannot unmarshal array"},
		{"unknown field", strings.Replace(full, `"workerPoolSize"`, `"workerPoolSize":1,"poolSize"`, 1), `unknown field "poolSize"`},
		{"wrong type", strings.Replace(full, `"workerPoolSize":0`, `"workerPoolSize":"two"`, 1), "workerPoolSize"},
		{"missing sandbox", strings.Replace(full, `"sandbox":"sb-1"`, `"sandbox":""`, 1), "sandbox is required"},
		{"missing worker binary", strings.Replace(full, `"workerBinary":"/nonexistent/worker",`, ``, 1), "workerBinary is required"},
		{"two documents", full + full, "data after the JSON document"},
		{"too long", `{"sandbox":"` + strings.Repeat("x", maxConfigBytes) + `"}`, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadConfig(strings.NewReader(tc.doc))
			if err == nil || !strings.HasPrefix(err.Error(), "pod server config: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want a pod server config error saying %q", err, tc.want)
			}
		})
	}
}

// TestMainRefusesMalformedConfig: the pod server's main reports a config
// it cannot use to the daemon, through the ready descriptor.
func TestMainRefusesMalformedConfig(t *testing.T) {
	cfg := configFor(socketIn(t))
	cfg.WorkerBinary = ""
	_, err := spawner(t, "main").Spawn(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "could not start: pod server config: workerBinary is required") {
		t.Fatalf("spawn with a config lacking the worker binary: %v", err)
	}
}
