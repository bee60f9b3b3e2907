package transformer

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// TestLogprobsMatchForward: Logprobs (contexts prefilled over the KV cache,
// shared ones once) gives the log-probs a forward pass over each whole
// sequence gives, within float32 noise: for a group sharing a context, a
// context cut to fit the window, a completion longer than the window, an
// empty completion; with and without the copy head and the prefix cache.
func TestLogprobsMatchForward(t *testing.T) {
	shared := "L 1 def add(a, b):\nL 2     return a - b\n***\nassert add(1, 2) == 3\n$ "
	examples := []sdk.PolicyExample{
		{Context: shared, Completion: "REPW 2 >>>- >>>+\n"},
		{Context: shared, Completion: "REPL 2 >>>    return a + b\n"},
		{Context: shared, Completion: "EXIT\n"},
		{Context: strings.Repeat("L 9 x = 1\n", 40) + "$ ", Completion: "DELL 9\n"},
		{Context: "$ ", Completion: strings.Repeat("ab ", 60)},
		{Context: shared, Completion: ""},
	}
	for _, tc := range []struct {
		name string
		opts map[string]any
	}{
		{"plain", map[string]any{"context": 96.0, "prefix_cache_mb": 0.0}},
		{"copy", map[string]any{"context": 96.0, "copy": true, "prefix_cache_mb": 0.0}},
		{"copy, prefix cache", map[string]any{"context": 96.0, "copy": true, "prefix_cache_mb": 16.0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinyModel(t, tc.opts)
			ctx := context.Background()
			for round := range 2 { // the second finds the prefix cache warm
				got, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: examples})
				if err != nil {
					t.Fatal(err)
				}
				seqs, _ := m.layoutAll(len(examples), func(i int) (string, string, []int32) {
					return examples[i].Context, examples[i].Completion, nil
				})
				for _, sq := range seqs {
					if len(got.Logprobs[sq.ex]) != len(sq.target) {
						t.Fatalf("example %d: %d log-probs for %d targets", sq.ex, len(got.Logprobs[sq.ex]), len(sq.target))
					}
					if len(sq.target) == 0 {
						continue
					}
					want, err := m.net.score([]sequence{sq}, nil)
					if err != nil {
						t.Fatal(err)
					}
					for j, lp := range got.Logprobs[sq.ex] {
						if d := math.Abs(lp - float64(want.logp[j])); d > 1e-4 {
							t.Fatalf("round %d, example %d token %d: log-prob %.6f, forward pass %.6f", round, sq.ex, j, lp, want.logp[j])
						}
					}
				}
			}
		})
	}
}
