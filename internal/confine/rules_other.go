//go:build linux && !amd64 && !arm64

package confine

// auditArch zero makes InstallSeccomp return ErrUnsupportedArch.
const auditArch = 0

const x32Bit = 0

func commonRules() []Rule { return nil }

func socketRules() []Rule { return nil }
