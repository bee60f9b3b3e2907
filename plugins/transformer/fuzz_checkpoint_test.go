package transformer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/sdk"
)

// FuzzLoadManifest: a checkpoint whose manifest.json is replaced by any
// bytes loads (it is a valid manifest for these weights) or fails with an
// error naming the checkpoint's file, never a panic or a partly loaded
// model.
func FuzzLoadManifest(f *testing.F) {
	m := New()
	m.log = hclog.NewNullLogger()
	cfg := map[string]any{"layers": 1.0, "d_model": 8.0, "heads": 2.0, "context": 16.0, "vocab": 260.0}
	dir := f.TempDir()
	ckpt := filepath.Join(dir, "ckpt")
	func() {
		c, err := sdk.ConfigFrom(cfg)
		if err != nil {
			f.Fatal(err)
		}
		if err := m.Configure(context.Background(), c); err != nil {
			f.Fatal(err)
		}
		if err := m.Save(context.Background(), ckpt); err != nil {
			f.Fatal(err)
		}
	}()
	good, err := os.ReadFile(filepath.Join(ckpt, "manifest.json"))
	if err != nil {
		f.Fatal(err)
	}
	weights, err := os.ReadFile(filepath.Join(ckpt, "weights.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), `"layers": 1`, `"layers": 2`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"merges": []`, `"merges": [[1, 999]]`, 1)))
	f.Add([]byte(`{"version": 1, "config": {"layers": -1}}`))
	f.Fuzz(func(t *testing.T, manifest []byte) {
		d := filepath.Join(t.TempDir(), "ckpt")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "manifest.json"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "weights.bin"), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		into := New()
		into.log = m.log.Named("fuzz")
		if err := into.Load(context.Background(), d); err != nil {
			if !strings.Contains(err.Error(), d) && !strings.Contains(err.Error(), "transformer: load") {
				t.Fatalf("error names neither the checkpoint nor the load: %v", err)
			}
			if into.net != nil {
				t.Fatal("a failed load left a network behind")
			}
			return
		}
		// A manifest that loads gives a usable model.
		if _, err := into.Info(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
