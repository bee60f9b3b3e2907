package transformer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/atomicfile"
	"github.com/lathe-ml/lathe/sdk"
)

// TestLoadDamagedCheckpoint damages a saved checkpoint's files and expects
// Load to fail naming the damaged file, and to leave the model it was
// loading into exactly as it was (never partly loaded).
func TestLoadDamagedCheckpoint(t *testing.T) {
	ctx := context.Background()
	src := tinyModel(t, map[string]any{"seed": 3.0})
	dir := filepath.Join(t.TempDir(), "ckpt")
	if err := src.Save(ctx, dir); err != nil {
		t.Fatal(err)
	}
	mpath, wpath := filepath.Join(dir, "manifest.json"), filepath.Join(dir, "weights.bin")
	manifestBytes, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	weightsBytes, err := os.ReadFile(wpath)
	if err != nil {
		t.Fatal(err)
	}
	// resealed writes a manifest edited through its JSON with a checksum
	// file that vouches for it: what a newer or a buggy build would save.
	resealed := func(edit func(m map[string]any), version int) func(t *testing.T) {
		return func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(manifestBytes, &m); err != nil {
				t.Fatal(err)
			}
			edit(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := atomicfile.WriteCheckedBytes(mpath, atomicfile.Format{Name: manifestFormat.Name, Version: version}, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(path string, edit func(b []byte) []byte) func(t *testing.T) {
		return func(t *testing.T) {
			orig := manifestBytes
			if path == wpath {
				orig = weightsBytes
			}
			if err := os.WriteFile(path, edit(slices.Clone(orig)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T)
		file   string
		want   string
	}{
		{"weights truncated", write(wpath, func(b []byte) []byte { return b[:len(b)/2] }), wpath, "SHA-256 does not match"},
		{"weights byte flipped", write(wpath, func(b []byte) []byte { b[100] ^= 0x40; return b }), wpath, "SHA-256 does not match"},
		{"weights missing", func(t *testing.T) { os.Remove(wpath) }, wpath, "no such file"},
		{"manifest truncated", write(mpath, func(b []byte) []byte { return b[:len(b)-40] }), mpath, "bytes, but"},
		{"manifest step altered", write(mpath, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"step": 0`, `"step": 5`, 1))
		}), mpath, "SHA-256"},
		{"manifest from a newer build", resealed(func(m map[string]any) { m["version"] = 2.0 }, 2), mpath,
			"lathe-transformer-manifest version 2; this build reads up to version 1"},
		{"manifest version without checksum file", func(t *testing.T) {
			resealed(func(m map[string]any) { m["version"] = 2.0 }, 1)(t)
			os.Remove(mpath + atomicfile.SumSuffix)
		}, mpath, "checkpoint version 2, this build reads 1"},
		{"rng state garbled", resealed(func(m map[string]any) { m["rng"] = "AAEC" }, 1), mpath, "rng"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() {
				os.WriteFile(mpath, manifestBytes, 0o644)
				os.WriteFile(wpath, weightsBytes, 0o644)
				if err := src.Save(ctx, dir); err != nil {
					t.Fatal(err)
				}
			})
			tc.damage(t)
			into := tinyModel(t, map[string]any{"seed": 11.0})
			before := slices.Clone(into.net.p.data)
			beforeRNG, _ := into.pcg.MarshalBinary()
			err := into.Load(ctx, dir)
			if err == nil {
				t.Fatal("a damaged checkpoint loaded")
			}
			if !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant it to name %s and say %q", err, tc.file, tc.want)
			}
			afterRNG, _ := into.pcg.MarshalBinary()
			if !slices.Equal(into.net.p.data, before) || !slices.Equal(afterRNG, beforeRNG) || into.step != 0 {
				t.Error("a failed load changed the model")
			}
			fresh := New()
			if err := fresh.Load(ctx, dir); err == nil || fresh.net != nil {
				t.Errorf("fresh model: err = %v, network left = %v", err, fresh.net != nil)
			}
		})
	}
	// The undamaged checkpoint loads: the damage, not the test, failed it.
	if err := tinyModel(t, nil).Load(ctx, dir); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateNonFiniteWeights: a model whose weights went NaN or infinite
// (a diverged run's checkpoint) answers Generate with an error saying so,
// greedy or sampled, instead of a token the tokenizer lacks (a panic that
// took the plugin process down, found by FuzzLoadWeights).
func TestGenerateNonFiniteWeights(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
		for _, temp := range []float64{0, 1} {
			t.Run(fmt.Sprintf("%v/temperature_%g", bad, temp), func(t *testing.T) {
				m := tinyModel(t, nil)
				for i := range m.net.p.data {
					m.net.p.data[i] = bad
				}
				_, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"def f():"},
					Sampling: sdk.Sampling{Temperature: temp, MaxTokens: 4, Seed: 1}})
				if err == nil || !strings.Contains(err.Error(), "not finite") {
					t.Errorf("err = %v, want one saying the logits are not finite", err)
				}
			})
		}
	}
}
