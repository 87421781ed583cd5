// Package ctrdtest gives tests an in-process containerd: a content store
// and bolt metadata on disk, and containerd's own image import code, with
// no daemon. Only tests import it.
package ctrdtest

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/metadata"
	tarchive "github.com/containerd/containerd/v2/core/transfer/archive"
	"github.com/containerd/containerd/v2/core/transfer/image"
	"github.com/containerd/containerd/v2/core/transfer/local"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	bolt "go.etcd.io/bbolt"
)

// NewDB returns containerd's metadata database over a content store, both
// in t's temp dir, and a context in namespace k8s.io.
func NewDB(t testing.TB) (context.Context, *metadata.DB) {
	t.Helper()
	dir := t.TempDir()
	cs, err := contentlocal.NewStore(filepath.Join(dir, "content"))
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	db := metadata.NewDB(bdb, cs, nil)
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	if err := db.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx, db
}

// Import does what `ctr images import [--base-name B] [--all-platforms]
// FILE` asks the daemon to do (without unpacking into a snapshotter).
func Import(ctx context.Context, cs content.Store, is images.Store, archive []byte, baseName string, allPlatforms bool) error {
	prefix, overwrite := baseName, false
	if prefix == "" {
		prefix, overwrite = "import-2006-01-02", true
	}
	opts := []image.StoreOpt{image.WithNamedPrefix(prefix, overwrite)}
	if !allPlatforms {
		opts = append(opts, image.WithPlatforms(platforms.DefaultSpec()))
	}
	ts := local.NewTransferService(cs, is, local.TransferConfig{})
	return ts.Transfer(ctx, tarchive.NewImageImportStream(bytes.NewReader(archive), ""), image.NewStore("", opts...))
}
