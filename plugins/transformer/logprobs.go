package transformer

import (
	"context"
	"fmt"
	"math"
)

// cachedLogprobs returns the log-probability of each sequence's targets
// (laid out by layout: its context, then all but the last completion
// token) the way Generate meets them: the context is prefilled over a KV
// cache, once for all sequences with the same context (a GRPO group's G
// first turns), and the completion then goes through as one run of rows. A forward pass over
// every whole sequence gives the same numbers (within float32 noise) for
// G times the context work.
func (m *Model) cachedLogprobs(ctx context.Context, seqs []sequence) ([][]float64, error) {
	out := make([][]float64, len(seqs))
	var scored []sequence // those with a target; the others score nothing
	var at []int
	for i, s := range seqs {
		out[i] = []float64{}
		if len(s.target) > 0 {
			scored, at = append(scored, s), append(at, i)
		}
	}
	if len(scored) == 0 {
		return out, nil
	}
	lps, err := m.cachedTargets(ctx, scored)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = lps[j]
	}
	return out, nil
}

// cachedTargets is cachedLogprobs for sequences that all have a target.
func (m *Model) cachedTargets(ctx context.Context, seqs []sequence) ([][]float64, error) {
	n := len(seqs)
	out := make([][]float64, n)
	V := m.net.Vocab
	capacity := make([]int, n)
	contexts := make([][]int32, n)
	for i, s := range seqs {
		contexts[i] = s.tokens[:len(s.tokens)-len(s.target)+1]
		capacity[i] = len(s.tokens)
	}
	cache := newKVCache(m.net.arch, capacity)
	// Not through the prefix cache: a step's contexts are new to the
	// reference model, and prefilling them block by block over the cache
	// measured slower than one forward pass (BenchmarkLogprobs: 26.6
	// against 33.9 examples/s).
	logits, err := m.prefillDistinct(contexts, cache, false)
	if err != nil {
		return nil, err
	}
	for i, s := range seqs {
		out[i] = make([]float64, len(s.target))
		out[i][0] = logSoftmaxAt(logits[i*V:(i+1)*V], s.target[0])
	}

	// The completions, a run of rows per sequence, as many sequences to a
	// step() call as maxPrefillRows allows.
	var buf decodeBuf
	for lo := 0; lo < n; {
		var toks []int32
		var pos, slots []int
		hi := lo
		for ; hi < n; hi++ {
			rest := seqs[hi].tokens[len(contexts[hi]):]
			if hi > lo && len(toks)+len(rest) > maxPrefillRows {
				break
			}
			for j, t := range rest {
				toks, pos, slots = append(toks, t), append(pos, len(contexts[hi])+j), append(slots, hi)
			}
		}
		if len(toks) > 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("transformer: %w", err)
			}
			rows := m.net.step(&buf, cache, toks, pos, slots, nil)
			r := 0
			for i := lo; i < hi; i++ {
				for j := 1; j < len(seqs[i].target); j++ {
					out[i][j] = logSoftmaxAt(rows[r*V:(r+1)*V], seqs[i].target[j])
					r++
				}
			}
		}
		lo = hi
	}
	return out, nil
}

// logSoftmaxAt is log softmax(logits)[tok].
func logSoftmaxAt(logits []float32, tok int32) float64 {
	mx := logits[0]
	for _, x := range logits {
		mx = max(mx, x)
	}
	var sum float64
	for _, x := range logits {
		sum += math.Exp(float64(x - mx))
	}
	return float64(logits[tok]-mx) - math.Log(sum)
}
