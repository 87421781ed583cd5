//go:build !workertesthook

package forked

// testHook is nil outside test builds of the worker (-tags workertesthook).
var testHook func() string
