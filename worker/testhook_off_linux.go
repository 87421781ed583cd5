//go:build !workertesthook

package worker

// testHook is nil outside test builds of the worker (-tags workertesthook).
var testHook func() string

// startHook is nil outside test builds of the worker.
var startHook func(env []string) (int, bool)
