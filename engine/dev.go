package engine

import (
	"path"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/devfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// DevPath is where modules find null, zero, random and urandom
// (internal/devfs), unless a bind mount of the spec is /dev itself.
const DevPath = "/dev"

var dev = devfs.New()

// withDev mounts the synthesized /dev after cfg's preopens (so the rootfs
// stays the first preopen, which Go's wasip1 port takes for "/"). It
// shadows a /dev directory of the rootfs, as a container runtime's /dev
// mount does; a bind mount at /dev wins.
func withDev(fsCfg wazero.FSConfig, cfg wasispec.Config) wazero.FSConfig {
	for _, p := range cfg.Preopens {
		if path.Clean(p.GuestPath) == DevPath {
			return fsCfg
		}
	}
	return fsCfg.(sysfs.FSConfig).WithSysFSMount(dev, DevPath)
}

// moduleEnv is the module's environment: process.env exactly, plus PWD
// when the working directory is not "/" and process.env does not set PWD.
// WASI preview 1 has no working directory: wasi-libc and Go's wasip1 start
// in "/", and Go's takes another one only from PWD (docs/RATIONALE.md,
// "Why is the working directory passed as PWD?").
func moduleEnv(cfg wasispec.Config) [][2]string {
	env := make([][2]string, 0, len(cfg.Env)+1)
	hasPWD := false
	for _, e := range cfg.Env {
		k, v, _ := strings.Cut(e, "=")
		env = append(env, [2]string{k, v})
		hasPWD = hasPWD || k == "PWD"
	}
	if cwd := path.Clean("/" + cfg.Cwd); !hasPWD && cwd != "/" {
		env = append(env, [2]string{"PWD", cwd})
	}
	return env
}
