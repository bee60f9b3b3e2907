package transformer

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// TestGenerateSeedsIndependentOfBatch: with one seed per context
// (Sampling.Seeds), what a context samples does not depend on the call it
// is in: alone, or beside others in any order, it writes the same tokens
// (log-probs within float32 noise), with the prefix cache on and off, with
// and without the copy head. This is what lets the rollout engine regroup
// episodes between calls (overlap) without changing results.
func TestGenerateSeedsIndependentOfBatch(t *testing.T) {
	contexts := []string{
		"L 1 def add(a, b):\nL 2     return a - b\n***\nassert add(1, 2) == 3\n$ ",
		"L 1 def neg(x):\nL 2     return x\n$ ",
		"L 1 def add(a, b):\nL 2     return a - b\n***\nassert add(1, 2) == 3\n$ ",
		"short\n$ ",
	}
	seeds := []int64{11, 12, 13, 14}
	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"plain", map[string]any{"context": 256.0, "prefix_cache_mb": 0.0}},
		{"copy, cached", map[string]any{"context": 256.0, "copy": true, "prefix_cache_mb": 64.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModel(t, tc.opts)
			gen := func(idx []int) []sdk.Completion {
				cs, ss := make([]string, len(idx)), make([]int64, len(idx))
				for j, i := range idx {
					cs[j], ss[j] = contexts[i], seeds[i]
				}
				resp, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: cs, Sampling: sdk.Sampling{
					Temperature: 1, MaxTokens: 16, Seed: 99, Seeds: ss, Stop: []string{"\n"}}})
				if err != nil {
					t.Fatal(err)
				}
				return resp.Completions
			}
			all := gen([]int{0, 1, 2, 3})
			if slices.Equal(all[0].Tokens, all[2].Tokens) {
				t.Errorf("the same context with two seeds drew the same %d tokens", len(all[0].Tokens))
			}
			for _, order := range [][]int{{0}, {1}, {2}, {3}, {3, 1}, {2, 0, 3}} {
				got := gen(order)
				for j, i := range order {
					want := all[i]
					if !slices.Equal(got[j].Tokens, want.Tokens) {
						t.Fatalf("context %d in call %v: tokens %v, in the full call %v", i, order, got[j].Tokens, want.Tokens)
					}
					for k := range want.Logprobs {
						if d := math.Abs(got[j].Logprobs[k] - want.Logprobs[k]); d > 1e-4 {
							t.Fatalf("context %d in call %v, token %d: log-prob differs by %g", i, order, k, d)
						}
					}
				}
			}
		})
	}
}
