package transformer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/sdk"
)

// BenchmarkLogprobs scores a GRPO step's examples under the reference
// model, the paper-sized one (2 layers, 128 wide, copy head, window 1024):
// 4 tasks, a group of 8, three turns each (the first turn's context shared
// by the group, later ones each its own), ~600-token contexts and
// 12-token commands. "forward" runs every whole sequence through the
// network (what Logprobs did before it prefilled over the KV cache);
// "cached" is Logprobs, on a model with the prefix cache off and on
// (emptied before every call: a step's contexts are new to the reference
// model). Logprobs no longer prefills through the prefix cache, which
// measured slower than a forward pass here (26.6 against 33.9 examples/s,
// 2026-12-06), so the two should now match.
//
//	go test -tags openblas -run '^$' -bench Logprobs -benchtime 5x ./plugins/transformer
func BenchmarkLogprobs(b *testing.B) {
	var examples []sdk.PolicyExample
	for task := range 4 {
		program := strings.Repeat(fmt.Sprintf("L %d     total = total + values[%d] * weight\n", task, task), 12)
		first := "Repair the Python program below so that its tests pass.\n" + program +
			"***\nTest 1 of 3 failed:\nassert weighted([1, 2], 3) == 9\nNameError: name 'totl' is not defined\n$ "
		for g := range 8 {
			examples = append(examples, sdk.PolicyExample{Context: first, Completion: fmt.Sprintf("REPW %d >>>totl >>>total\n", g)})
			for turn := 1; turn < 3; turn++ {
				state := fmt.Sprintf("%s***\nTest %d of 3 failed (sample %d)\n$ ", program, turn, g)
				examples = append(examples, sdk.PolicyExample{Context: "Repair the Python program below so that its tests pass.\n" + state,
					Completion: fmt.Sprintf("REPL %d >>>x = %d\n", turn, g)})
			}
		}
	}
	ctx := context.Background()
	newModel := func(b *testing.B, mb int) *Model {
		m := New()
		m.log = hclog.NewNullLogger()
		cfg, _ := sdk.ConfigFrom(map[string]any{"layers": 2.0, "d_model": 128.0, "heads": 4.0, "context": 1024.0,
			"vocab": 2048.0, "space_tokens": true, "copy": true, "prefix_cache_mb": float64(mb)})
		if err := m.Configure(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.Run("forward", func(b *testing.B) {
		m := newModel(b, 0)
		seqs, _ := m.layoutAll(len(examples), func(i int) (string, string, []int32) {
			return examples[i].Context, examples[i].Completion, nil
		})
		for range b.N {
			for _, mb := range microBatches(seqs, m.cfg.BatchTokens) {
				if _, err := m.net.score(mb, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(examples)*b.N)/b.Elapsed().Seconds(), "examples/s")
	})
	for _, mb := range []int{0, DefaultPrefixCacheMB} {
		b.Run(fmt.Sprintf("cached,prefix_cache_mb=%d", mb), func(b *testing.B) {
			m := newModel(b, mb)
			for range b.N {
				m.version++ // a cold prefix cache, as for a step's new contexts
				if _, err := m.Logprobs(ctx, sdk.LogprobsRequest{Examples: examples}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(examples)*b.N)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}
