// Package version holds the build's version, set with -ldflags -X.
package version

// Version is overridden at build time:
// -ldflags "-X github.com/wasm-sandboxer/wasm-sandboxer/internal/version.Version=v0.1.0".
var Version = "dev"
