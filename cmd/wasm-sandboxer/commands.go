package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/wasm-sandboxer/wasm-sandboxer/internal/nodelabel"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/sandboxapi"
	"github.com/wasm-sandboxer/wasm-sandboxer/internal/status"
)

// statusMain prints what the daemon on --address runs.
func statusMain(args []string) int {
	fs := flag.NewFlagSet("wasm-sandboxer status", flag.ContinueOnError)
	address := fs.String("address", sandboxapi.DefaultSocket, "the daemon's controller socket (its --listen)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("q", false, "print nothing; exit 0 when the daemon answers (a probe)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := status.Fetch(ctx, *address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer status: %v\n", err)
		return 1
	}
	switch {
	case *quiet:
	case *asJSON:
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	default:
		err = status.Print(os.Stdout, r, time.Now())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer status: %v\n", err)
		return 1
	}
	return 0
}

// labelNodeMain sets labels on this pod's node (the installer's last step).
func labelNodeMain(args []string) int {
	fs := flag.NewFlagSet("wasm-sandboxer label-node", flag.ContinueOnError)
	node := fs.String("node", os.Getenv("NODE_NAME"), "the node's name (default: $NODE_NAME)")
	saDir := fs.String("service-account-dir", nodelabel.ServiceAccountDir, "the pod's service account files")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	labels, err := nodelabel.ParseLabels(fs.Args())
	if err == nil && *node == "" {
		err = fmt.Errorf("--node (or NODE_NAME) is required")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer label-node: %v\nusage: wasm-sandboxer label-node [--node NAME] KEY=VALUE...\n", err)
		return 2
	}
	c, err := nodelabel.InCluster(*saDir)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = c.Label(ctx, *node, labels)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasm-sandboxer label-node: %v\n", err)
		return 1
	}
	return 0
}
