package transformer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/atomicfile"
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

// FuzzLoadWeights: a checkpoint whose weights.bin holds any bytes, with a
// manifest that vouches for them (its weights_sha256 is theirs, so only the
// size and the values are tested), loads only if the size is the
// architecture's, fails naming weights.bin otherwise; a loaded model, its
// floats whatever the bytes make of them (NaN, Inf), still answers Generate
// and Logprobs without a panic.
func FuzzLoadWeights(f *testing.F) {
	m := New()
	m.log = hclog.NewNullLogger()
	c, err := sdk.ConfigFrom(map[string]any{"layers": 1.0, "d_model": 8.0, "heads": 2.0, "context": 16.0, "vocab": 260.0})
	if err != nil {
		f.Fatal(err)
	}
	if err := m.Configure(context.Background(), c); err != nil {
		f.Fatal(err)
	}
	ckpt := filepath.Join(f.TempDir(), "ckpt")
	if err := m.Save(context.Background(), ckpt); err != nil {
		f.Fatal(err)
	}
	var man map[string]any
	js, err := os.ReadFile(filepath.Join(ckpt, "manifest.json"))
	if err != nil {
		f.Fatal(err)
	}
	if err := json.Unmarshal(js, &man); err != nil {
		f.Fatal(err)
	}
	weights, err := os.ReadFile(filepath.Join(ckpt, "weights.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(weights)
	f.Add(weights[:len(weights)-4])
	f.Add(append(slices.Clone(weights), 0, 0, 0, 0))
	nan := slices.Clone(weights)
	for i := 0; i+4 <= len(nan); i += 4 {
		copy(nan[i:], []byte{0x00, 0x00, 0xc0, 0x7f}) // NaN
	}
	f.Add(nan)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, w []byte) {
		d := filepath.Join(t.TempDir(), "ckpt")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(w)
		man["weights_sha256"] = hex.EncodeToString(sum[:])
		mb, err := json.Marshal(man)
		if err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.WriteCheckedBytes(filepath.Join(d, "manifest.json"), manifestFormat, mb); err != nil {
			t.Fatal(err)
		}
		wpath := filepath.Join(d, "weights.bin")
		if err := os.WriteFile(wpath, w, 0o644); err != nil {
			t.Fatal(err)
		}
		into := New()
		into.log = m.log
		if err := into.Load(context.Background(), d); err != nil {
			if len(w) == len(weights) || !strings.Contains(err.Error(), wpath) {
				t.Fatalf("%d bytes (%d expected): %v", len(w), len(weights), err)
			}
			if into.net != nil {
				t.Fatal("a failed load left a network behind")
			}
			return
		}
		if len(w) != len(weights) {
			t.Fatalf("loaded %d bytes of weights, the architecture has %d", len(w), len(weights))
		}
		ctx := context.Background()
		if _, err := into.Generate(ctx, sdk.GenerateRequest{Contexts: []string{"def f():"},
			Sampling: sdk.Sampling{Temperature: 1, MaxTokens: 4, Seed: 1}}); err != nil {
			t.Logf("generate: %v", err) // an error is fine, a panic is not
		}
		if _, err := into.Logprobs(ctx, sdk.LogprobsRequest{Examples: []sdk.PolicyExample{{Context: "x = ", Completion: "1"}}}); err != nil {
			t.Logf("logprobs: %v", err)
		}
	})
}
