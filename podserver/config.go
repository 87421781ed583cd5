package podserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is everything a pod server runs with. The daemon fills it from
// its own flags, where every default lives, and hands it over as one JSON
// document on the pod server's stdin: the pod server has no flags of its
// own to drift from the daemon's.
type Config struct {
	// Sandbox is the sandbox's id; it is also the pod server's one
	// argument, so `ps` tells pod servers apart.
	Sandbox string `json:"sandbox"`
	// Socket serves the sandbox's task API and the control API.
	Socket string `json:"socket"`
	// Dir is the forked runtime's working dir, removed on exit.
	Dir string `json:"dir"`
	// NetNS is the pod's network namespace ("": none of the pod's).
	NetNS string `json:"netns,omitempty"`
	// CgroupParent is the pod's cgroup, CRI's cgroupfs parent of its
	// containers' cgroups, when known.
	CgroupParent string `json:"cgroupParent,omitempty"`
	// ContainerdAddress is containerd's gRPC socket; task events go to
	// <address>.ttrpc.
	ContainerdAddress string `json:"containerdAddress"`
	// CompileCache is the daemon's compiled-code dir.
	CompileCache string `json:"compileCache"`
	// CompiledMemo is where pod servers note the modules they compiled
	// (shared by all; "": no note).
	CompiledMemo string `json:"compiledMemo,omitempty"`
	// WorkerBinary is the wasm-sandboxer-worker executable.
	WorkerBinary string `json:"workerBinary"`
	// WorkerPoolSize is the number of idle, confined workers kept ready.
	WorkerPoolSize int `json:"workerPoolSize"`
	// WorkerPoolIdle ends idle workers once the pool has not been drawn
	// from for this long (0: keep them); nanoseconds in JSON.
	WorkerPoolIdle time.Duration `json:"workerPoolIdle"`
	// LogLevel and LogFormat are the daemon's --log-level and --log-format.
	LogLevel  string `json:"logLevel"`
	LogFormat string `json:"logFormat"`
}

// maxConfigBytes bounds the config a pod server reads.
const maxConfigBytes = 64 << 10

// Encode is cfg as the JSON document a pod server reads.
func (cfg Config) Encode() ([]byte, error) {
	return json.Marshal(cfg)
}

// Validate says which required value is missing.
func (cfg Config) Validate() error {
	for _, f := range []struct{ name, v string }{
		{"sandbox", cfg.Sandbox}, {"socket", cfg.Socket}, {"dir", cfg.Dir},
		{"containerdAddress", cfg.ContainerdAddress}, {"compileCache", cfg.CompileCache},
		{"workerBinary", cfg.WorkerBinary}, {"logLevel", cfg.LogLevel}, {"logFormat", cfg.LogFormat},
	} {
		if f.v == "" {
			return fmt.Errorf("pod server config: %s is required", f.name)
		}
	}
	return nil
}

// ReadConfig reads and validates the one JSON document on r. Unknown
// fields are refused: a daemon and a pod server of different builds must
// not silently disagree.
func ReadConfig(r io.Reader) (Config, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("pod server config: read: %w", err)
	}
	if len(b) > maxConfigBytes {
		return Config{}, fmt.Errorf("pod server config: more than %d bytes", maxConfigBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return Config{}, errors.New("pod server config: empty (the daemon writes it on stdin)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("pod server config: %w", err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return Config{}, errors.New("pod server config: data after the JSON document")
	}
	return cfg, cfg.Validate()
}
