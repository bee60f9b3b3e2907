package transformer

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// TestPrefixCacheSameResults plays three turns of four episodes that share
// a prompt, each turn's context the last one plus its completion and a new
// state, on two models with the same weights, one with the prefix cache and
// one without: the sampled tokens must be identical and the log-probs equal
// within float32 noise, before and after a training step (which must empty
// the cache), with and without the copy head and under a budget so small
// that blocks are evicted.
func TestPrefixCacheSameResults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      map[string]any
		maxBlocks int // 0: what the budget allows
	}{
		{"plain", nil, 0},
		{"copy", map[string]any{"copy": true}, 0},
		{"evicting", map[string]any{"copy": true}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withOpts := func(mb float64) map[string]any {
				o := map[string]any{"context": 512.0, "prefix_cache_mb": mb}
				for k, v := range tc.opts {
					o[k] = v
				}
				return o
			}
			cached, plain := tinyModel(t, withOpts(256)), tinyModel(t, withOpts(0))
			if cached.prefix == nil || plain.prefix != nil {
				t.Fatal("prefix_cache_mb does not turn the cache on and off")
			}
			if tc.maxBlocks > 0 {
				cached.prefix.maxBlocks = tc.maxBlocks
			}
			ctx := context.Background()
			prompt := "Repair the Python program below so that its tests pass.\nL 1 def add(a, b):\nL 2     return a - b\n***\nassert add(1, 2) == 3\n$ "
			play := func(m *Model) ([][]int32, [][]float64) {
				contexts := []string{prompt, prompt, prompt + "x", prompt}
				var toks [][]int32
				var lps [][]float64
				for turn := range 3 {
					resp, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: contexts, Sampling: sdk.Sampling{
						Temperature: 1, MaxTokens: 12, Seed: int64(turn), Stop: []string{"\n"}}})
					if err != nil {
						t.Fatal(err)
					}
					for i, c := range resp.Completions {
						toks, lps = append(toks, c.Tokens), append(lps, c.Logprobs)
						contexts[i] += c.Text + fmt.Sprintf("\nL 1 def add(a, b):\nL 2     return a + b  # turn %d\n***\nAll 1 tests passed.\n$ ", turn)
					}
				}
				return toks, lps
			}
			compare := func(when string) {
				ta, la := play(cached)
				tb, lb := play(plain)
				for i := range ta {
					if !slices.Equal(ta[i], tb[i]) {
						t.Fatalf("%s: completion %d: tokens %v with the cache, %v without", when, i, ta[i], tb[i])
					}
					for j := range la[i] {
						if math.Abs(la[i][j]-lb[i][j]) > 1e-4 {
							t.Fatalf("%s: completion %d token %d: log-prob %.6f with the cache, %.6f without", when, i, j, la[i][j], lb[i][j])
						}
					}
				}
			}
			compare("untrained")
			if tc.maxBlocks > 0 && cached.prefix.lru.Len() > tc.maxBlocks {
				t.Fatalf("%d blocks kept, budget %d", cached.prefix.lru.Len(), tc.maxBlocks)
			}
			if cached.prefix.reused == 0 {
				t.Fatal("no prompt token came from the cache")
			}
			t.Logf("prompt tokens reused %d, prefilled %d", cached.prefix.reused, cached.prefix.prefilled)
			batch := sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{{Context: prompt, Target: "REPW 2 >>>- >>>+\n"}}, TotalSteps: 1}
			for _, m := range []*Model{cached, plain} {
				if _, err := m.TrainSupervised(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			compare("after a training step")
		})
	}
}

// TestPrefixCacheHitsWholeBlocks: a second call with the same long prompt
// prefills only the part after its last full block.
func TestPrefixCacheHitsWholeBlocks(t *testing.T) {
	m := tinyModel(t, map[string]any{"context": 512.0})
	p := strings.Repeat("abcdefgh", 20) // 160 byte tokens: 4 full blocks before the last token
	req := sdk.GenerateRequest{Contexts: []string{p}, Sampling: sdk.Sampling{MaxTokens: 1}}
	for range 2 {
		if _, err := m.Generate(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	n := int64(len(m.tok.Encode(p)))
	want := int64(((n - 1) / prefixBlock) * prefixBlock)
	if m.prefix.reused != want || m.prefix.prefilled != 2*n-want {
		t.Fatalf("reused %d, prefilled %d of 2 x %d tokens; want %d reused", m.prefix.reused, m.prefix.prefilled, n, want)
	}
}
