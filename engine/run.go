package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasm-sandboxer/wasm-sandboxer/engine/wasisock"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/confinedfs"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/stdio"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/wasispec"
)

// Exit is how a module's run ended, as the hosts report it.
type Exit struct {
	Code   uint32
	Reason string // empty for a normal exit; else why it ended
	OOM    bool   // it ended because it hit its memory limit
}

// Exit codes for ends that are not a proc_exit, documented in
// docs/RATIONALE.md ("Why these exit codes?"); the runtime contract
// (package runtime) reports the same values.
const (
	// ExitTrap is reported when the module traps (unreachable, out of
	// bounds access, stack exhaustion...): 128+SIGABRT, as for a native
	// process that aborts.
	ExitTrap = 134
	// ExitOOM is reported when the module hits its memory limit:
	// 128+SIGKILL, as for a container the kernel OOM-kills.
	ExitOOM = 137
)

// ModuleConfig is the WASI view of cfg: argv, env, cwd, the confined
// rootfs as "/", bind mounts at their destinations, /dev (dev.go), real
// clocks and crypto/rand.
func ModuleConfig(cfg wasispec.Config, root *confinedfs.FS, mounts []*confinedfs.FS, ios *stdio.Set) wazero.ModuleConfig {
	fsCfg := wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(root, "/")
	for i, p := range cfg.Preopens {
		fsCfg = fsCfg.(sysfs.FSConfig).WithSysFSMount(mounts[i], p.GuestPath)
	}
	fsCfg = withDev(fsCfg, cfg)
	mc := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module may run at once
		WithArgs(cfg.Args...).
		WithStdin(ios.Stdin).WithStdout(ios.Stdout).WithStderr(ios.Stderr).
		WithFSConfig(fsCfg).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader)
	for _, kv := range moduleEnv(cfg) {
		mc = mc.WithEnv(kv[0], kv[1])
	}
	return mc
}

// SleepUntilDone is a module's nanosleep (poll_oneoff on a clock) that a
// kill cuts short: wazero only checks the context between guest
// instructions, so a module sleeping in the host would otherwise outlive
// its kill by the rest of its sleep.
func SleepUntilDone(ctx context.Context) func(ns int64) {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// Instantiate runs _start to completion. A panic in wazero ends the
// module, never the process hosting it.
func Instantiate(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runtime panic: %v", r)
		}
	}()
	if ls := wasisock.Listeners(ctx); len(ls) > 0 {
		return instantiateServing(ctx, rt, compiled, cfg, ls) // serve.go
	}
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if mod != nil {
		mod.Close(context.Background())
	}
	return err
}

// Classify maps the result of running _start to an exit, as
// docs/RATIONALE.md "Why these exit codes?" describes.
func Classify(err error, mem *Allocator) Exit {
	if err == nil {
		return Exit{}
	}
	var exitErr *sys.ExitError
	if errors.As(err, &exitErr) {
		if c := exitErr.ExitCode(); c != 0 && mem.LimitHit() {
			return Exit{Code: ExitOOM, OOM: true,
				Reason: fmt.Sprintf("memory limit of %d bytes reached (module exited %d)", mem.Limit(), c)}
		}
		return Exit{Code: exitErr.ExitCode()}
	}
	if mem.LimitHit() {
		return Exit{Code: ExitOOM, OOM: true, Reason: fmt.Sprintf("memory limit of %d bytes reached: %v", mem.Limit(), err)}
	}
	return Exit{Code: ExitTrap, Reason: fmt.Sprintf("trap: %v", err)}
}
