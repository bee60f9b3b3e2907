package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// sequence is one training or scoring example laid out for the network:
// input tokens and, for each scored position, the token it predicts.
type sequence struct {
	ex     int     // index of the example in its batch
	tokens []int32 // what the network reads
	pos    []int32 // pos[j] is the input position predicting target[j]
	target []int32
	// read marks the scored tokens that belong to a context (an auxiliary
	// language-modelling loss) rather than to a target; nil: none do.
	read []bool
	// truncated reports that the context lost tokens on the left or the
	// completion lost tokens on the right to fit the window.
	truncated bool
}

// layout builds the input of one example. A context longer than keep
// tokens loses its left part, exactly as Generate truncates prompts, so a
// completion is scored on the context it was sampled from; a completion
// longer than the window is cut on the right, and if context and completion
// still overflow the window the context loses more on the left. An empty
// context becomes a single newline so the first completion token has
// something to be predicted from.
func layout(ex int, ctx, comp []int32, window, keep int, tail func(ctx []int32, n int) []int32) sequence {
	if len(ctx) == 0 {
		ctx = []int32{'\n'}
	}
	s := sequence{ex: ex}
	if len(ctx) > keep {
		ctx, s.truncated = tail(ctx, keep), true
	}
	if len(comp) > window {
		comp, s.truncated = comp[:window], true
	}
	// The input holds len(ctx)+len(comp)-1 tokens and must fit the window.
	if room := window + 1 - len(comp); len(ctx) > room {
		ctx, s.truncated = tail(ctx, max(room, 1)), true
	}
	s.tokens = make([]int32, 0, len(ctx)+len(comp)-1)
	s.tokens = append(append(s.tokens, ctx...), comp...)
	s.tokens = s.tokens[:len(s.tokens)-1]
	s.target = comp
	s.pos = make([]int32, len(comp))
	for j := range comp {
		s.pos[j] = int32(len(ctx) - 1 + j)
	}
	return s
}

// turn is one (context, target) pair of a whole-episode example, tokenized.
type turn struct{ ctx, target []int32 }

// layoutTurns lays out a whole episode as few sequences as the window
// allows. Turns join one sequence (each context read once, every target
// scored) while everything up to the turn's context fits in keep tokens,
// which is exactly when generation would see that context uncut; from the
// first turn that does not fit, each turn is a sequence of its own with
// its context cut as Generate cuts it (layout). So every target is trained
// on the tokens it is later generated from. With withContext, the tokens of
// the joined contexts are also scored, marked in read.
func layoutTurns(ex int, turns []turn, window, keep int, withContext bool, tail func(ctx []int32, n int) []int32) []sequence {
	var out []sequence
	var all []int32 // the episode so far: contexts and targets
	joint := sequence{ex: ex}
	joined := 0 // tokens of all that belong to the joint sequence
	for _, t := range turns {
		ctxStart := len(all)
		all = append(all, t.ctx...)
		if joined == ctxStart && len(all) > 0 && len(all) <= keep && len(all)+len(t.target) <= window+1 {
			if withContext {
				for p := max(ctxStart, 1); p < len(all); p++ {
					joint.pos = append(joint.pos, int32(p-1))
					joint.target = append(joint.target, all[p])
					joint.read = append(joint.read, true)
				}
			}
			for j, tok := range t.target {
				joint.pos = append(joint.pos, int32(len(all)-1+j))
				joint.target = append(joint.target, tok)
				if withContext {
					joint.read = append(joint.read, false)
				}
			}
			all = append(all, t.target...)
			joined = len(all)
			continue
		}
		out = append(out, layout(ex, all, t.target, window, keep, tail))
		all = append(all, t.target...)
	}
	if joined > 0 {
		joint.tokens = append([]int32(nil), all[:joined-1]...)
		out = append([]sequence{joint}, out...)
	}
	return out
}

// microBatches sorts sequences by length and groups them so that each group
// padded to its longest member stays within budget tokens (bucketing keeps
// padding small); a sequence longer than the budget gets a group of its own.
func microBatches(seqs []sequence, budget int) [][]sequence {
	var sorted []sequence
	for _, s := range seqs {
		if len(s.target) > 0 { // nothing to score or train
			sorted = append(sorted, s)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].tokens) > len(sorted[j].tokens) })
	var out [][]sequence
	for i := 0; i < len(sorted); {
		T := len(sorted[i].tokens)
		n := max(1, budget/max(T, 1))
		j := min(i+n, len(sorted))
		out = append(out, sorted[i:j])
		i = j
	}
	return out
}

// pack pads a micro-batch into tokens [B,T] and lists the rows that carry a
// target with their target ids.
func pack(mb []sequence) (tokens []int32, B, T int, rows, targets []int32) {
	B = len(mb)
	for _, s := range mb {
		T = max(T, len(s.tokens))
	}
	tokens = make([]int32, B*T) // padding is token 0; causal attention keeps it out of real rows
	for b, s := range mb {
		copy(tokens[b*T:], s.tokens)
		for j, tg := range s.target {
			rows = append(rows, int32(b*T)+s.pos[j])
			targets = append(targets, tg)
		}
	}
	return
}

// scored is the per-token result of a forward pass over one micro-batch.
type scored struct {
	logp, ent []float32
	targets   []int32
}

// score runs the network over a micro-batch and returns the log-probability
// and entropy of each target token, leaving the probabilities in m.a.logits
// for a following backward.
func (m *model) score(mb []sequence, rng *rand.Rand) (scored, error) {
	tokens, B, T, rows, targets := pack(mb)
	if err := m.forward(tokens, B, T, rows, rng); err != nil {
		return scored{}, err
	}
	s := scored{logp: make([]float32, len(rows)), ent: make([]float32, len(rows)), targets: targets}
	softmaxXent(m.a.logits, targets, s.logp, s.ent, len(rows), m.Vocab)
	return s, nil
}

// adamW is the optimizer state: first and second moments per parameter and
// the number of updates taken (for bias correction).
type adamW struct {
	M, V []float32
	T    int
}

// hyper are the optimizer settings.
type hyper struct {
	LR, MinLRFrac, Beta1, Beta2, Eps, WeightDecay, GradClip float64
	Warmup                                                  int
}

// withPeak returns h with its peak learning rate replaced by lr when lr is
// positive (a batch asking for a gentler or stronger schedule).
func (h hyper) withPeak(lr float64) hyper {
	if lr > 0 {
		h.LR = lr
	}
	return h
}

// lrAt is linear warmup over Warmup steps, then cosine decay to
// MinLRFrac*LR at total; with total <= 0 the rate stays at LR.
func (h hyper) lrAt(step, total int) float64 {
	if step < h.Warmup {
		return h.LR * float64(step+1) / float64(h.Warmup)
	}
	if total <= h.Warmup {
		return h.LR
	}
	p := math.Min(1, float64(step-h.Warmup)/float64(total-h.Warmup))
	minLR := h.LR * h.MinLRFrac
	return minLR + 0.5*(h.LR-minLR)*(1+math.Cos(math.Pi*p))
}

// update clips the gradient to GradClip global norm, takes one AdamW step
// with decoupled weight decay on matrices only, zeroes the gradient and
// returns the gradient norm before clipping.
func (o *adamW) update(m *model, h hyper, lr float64) float64 {
	g, p := m.g.data, m.p.data
	var ss float64
	for _, v := range g {
		ss += float64(v) * float64(v)
	}
	norm := math.Sqrt(ss)
	scale := float32(1)
	if h.GradClip > 0 && norm > h.GradClip {
		scale = float32(h.GradClip / norm)
	}
	o.T++
	b1, b2 := float32(h.Beta1), float32(h.Beta2)
	c1 := float32(1 / (1 - math.Pow(h.Beta1, float64(o.T))))
	c2 := float32(1 / (1 - math.Pow(h.Beta2, float64(o.T))))
	lr32, eps := float32(lr), float32(h.Eps)
	for _, sp := range m.specs() {
		wd := float32(0)
		if sp.decay {
			wd = float32(h.WeightDecay)
		}
		lo, hi := sp.off, sp.off+sp.size()
		parallelFor(hi-lo, 1<<14, func(a, b int) {
			for i := lo + a; i < lo+b; i++ {
				gi := g[i] * scale
				o.M[i] = b1*o.M[i] + (1-b1)*gi
				o.V[i] = b2*o.V[i] + (1-b2)*gi*gi
				mh, vh := o.M[i]*c1, o.V[i]*c2
				p[i] -= lr32 * (mh/(float32(math.Sqrt(float64(vh)))+eps) + wd*p[i])
			}
		})
	}
	clear(g)
	return norm
}

// checkLogprobs validates an optional per-token log-prob slice against the
// number of completion tokens kept.
func checkLogprobs(what string, ex int, lp []float64, kept int) error {
	if len(lp) != 0 && len(lp) < kept {
		return fmt.Errorf("transformer: example %d has %d %s log-probs for %d completion tokens", ex, len(lp), what, kept)
	}
	return nil
}
