//go:build tools

// Package tools pins the CLI tools the dev environment builds: crictl and
// critest from sigs.k8s.io/cri-tools. It is its own module because
// cri-tools is on the module proxy but not in the checksum database, so it
// is fetched with GOSUMDB=off, which must never apply to the project's
// own go.sum.
package tools

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
	_ "sigs.k8s.io/cri-tools/pkg/validate"
)
