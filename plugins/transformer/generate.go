package transformer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"gonum.org/v1/gonum/blas"

	"github.com/lathe-ml/lathe/sdk"
)

// kvCache holds, per layer, the keys and values of every position seen so
// far for each sequence: slot s owns positions [base[s], base[s+1]) of k[l]
// and v[l], each position C floats. A slot holds only as many positions as
// its sequence can reach (prompt + MaxTokens, at most the window), so a
// large batch of short generations stays small.
type kvCache struct {
	k, v [][]float32
	base []int
	// With the copy head: the copy keys [position, C] and the token at
	// each position (what attending to the position before it copies).
	ck  []float32
	tok []int32
}

func newKVCache(a arch, capacity []int) *kvCache {
	c := &kvCache{base: make([]int, len(capacity)+1)}
	for s, n := range capacity {
		c.base[s+1] = c.base[s] + n
	}
	total := c.base[len(capacity)] * a.DModel
	for range a.Layers {
		c.k = append(c.k, make([]float32, total))
		c.v = append(c.v, make([]float32, total))
	}
	if a.Copy {
		c.ck = make([]float32, total)
		c.tok = make([]int32, c.base[len(capacity)])
	}
	return c
}

// copySlot copies the first n positions of slot from into slot to.
func (c *kvCache) copySlot(from, to, n, C int) {
	f, t := c.base[from], c.base[to]
	for l := range c.k {
		copy(c.k[l][t*C:(t+n)*C], c.k[l][f*C:(f+n)*C])
		copy(c.v[l][t*C:(t+n)*C], c.v[l][f*C:(f+n)*C])
	}
	if c.ck != nil {
		copy(c.ck[t*C:(t+n)*C], c.ck[f*C:(f+n)*C])
		copy(c.tok[t:t+n], c.tok[f:f+n])
	}
}

// prefill runs prompts through the full forward pass (several at a time,
// padded), stores prompt j's keys and values in cache slot slots[j] and
// returns the logits [len(prompts), V] of each prompt's last position.
func (m *model) prefill(prompts [][]int32, cache *kvCache, slots []int, budget int) ([]float32, error) {
	C, V := m.DModel, m.Vocab
	out := make([]float32, len(prompts)*V)
	for i := 0; i < len(prompts); {
		T := 0
		j := i
		for ; j < len(prompts); j++ {
			t := max(T, len(prompts[j]))
			if j > i && t*(j-i+1) > budget {
				break
			}
			T = t
		}
		B := j - i
		tokens := make([]int32, B*T)
		rows := make([]int32, B)
		for b := range B {
			p := prompts[i+b]
			copy(tokens[b*T:], p)
			rows[b] = int32(b*T + len(p) - 1)
		}
		if err := m.forward(tokens, B, T, rows, nil); err != nil {
			return nil, err
		}
		for l, la := range m.a.layers {
			for b := range B {
				slot := slots[i+b]
				for t := range len(prompts[i+b]) {
					src := la.qkv[(b*T+t)*3*C:]
					dst := (cache.base[slot] + t) * C
					copy(cache.k[l][dst:dst+C], src[C:2*C])
					copy(cache.v[l][dst:dst+C], src[2*C:3*C])
				}
			}
		}
		if cache.ck != nil {
			for b := range B {
				base, p := cache.base[slots[i+b]], prompts[i+b]
				copy(cache.ck[base*C:(base+len(p))*C], m.a.copy.k[b*T*C:(b*T+len(p))*C])
				copy(cache.tok[base:base+len(p)], p)
			}
		}
		copy(out[i*V:], m.a.logits[:B*V])
		i = j
	}
	return out, nil
}

// decodeBuf is the scratch of one decoding step for nb sequences.
type decodeBuf struct {
	x, ln, mean, rstd, qkv, atty, tmp, fch, fchg, logits []float32
	lnw                                                  []float32 // final LayerNorm of the wanted rows
	cq, ck, att, logpv                                   []float32 // the copy head's
}

// step feeds new tokens through the network over the cache: row i is
// tokens[i] at position pos[i] of cache slot slots[i]. In decoding each
// sequence has one row; when prefilling after a cached prefix a sequence
// has a run of rows at consecutive positions, and since every row's keys
// and values are written before any row attends, the rows of a run see
// each other causally, exactly as in forward. It returns the next-token
// logits [len(want), V] of the rows listed in want (nil: every row).
func (m *model) step(buf *decodeBuf, cache *kvCache, tokens []int32, pos, slots []int, want []int) []float32 {
	C, H, V, T := m.DModel, m.Heads, m.Vocab, m.Context
	nb := len(tokens)
	hs := C / H
	scale := float32(1 / math.Sqrt(float64(hs)))
	buf.x, buf.ln, buf.tmp, buf.atty = grow(buf.x, nb*C), grow(buf.ln, nb*C), grow(buf.tmp, nb*C), grow(buf.atty, nb*C)
	buf.mean, buf.rstd, buf.qkv = grow(buf.mean, nb), grow(buf.rstd, nb), grow(buf.qkv, nb*3*C)
	buf.fch, buf.fchg = grow(buf.fch, nb*4*C), grow(buf.fchg, nb*4*C)
	for i, tok := range tokens {
		x, w := buf.x[i*C:(i+1)*C], m.p.wte[int(tok)*C:]
		copy(x, w[:C])
		if p := m.positionEmbedding(m.p, pos[i]); p != nil {
			for j := range x {
				x[j] += p[j]
			}
		}
	}
	runs := stepRuns(pos, slots)
	for l := range m.Layers {
		lp := &m.p.layers[l]
		Kc, Vc := cache.k[l], cache.v[l]
		layerNormForward(buf.ln, buf.mean, buf.rstd, buf.x, lp.ln1g, lp.ln1b, nb, C)
		m.matmulForward(buf.qkv, buf.ln, lp.qkvw, lp.qkvb, nb, C, 3*C)
		if m.rope != nil {
			m.rope.rotate(buf.qkv, nb, C, H, func(i int) int { return pos[i] }, false)
		}
		for i := range nb {
			dst := (cache.base[slots[i]] + pos[i]) * C
			copy(Kc[dst:dst+C], buf.qkv[i*3*C+C:i*3*C+2*C])
			copy(Vc[dst:dst+C], buf.qkv[i*3*C+2*C:i*3*C+3*C])
		}
		parallelFor(len(runs)*H, 1, func(lo, hi int) {
			sc := make([]float32, attnBlock*T)
			for u := lo; u < hi; u++ {
				run, h := runs[u/H], u%H
				base := cache.base[slots[run.r0]] * C
				// Blocks of up to attnBlock rows: scores [R, n] = scale *
				// Q K[0:n]^T over the cache read in place (row stride C),
				// a softmax over each row's own prefix, then out = S V.
				for b0 := run.r0; b0 < run.r1; b0 += attnBlock {
					b1 := min(b0+attnBlock, run.r1)
					R, n := b1-b0, pos[b1-1]+1
					m.bl.Sgemm(blas.NoTrans, blas.Trans, R, n, hs, scale, buf.qkv[b0*3*C+h*hs:], 3*C, Kc[base+h*hs:], C, 0, sc, n)
					for i := range R {
						softmaxPrefix(sc[i*n:(i+1)*n], pos[b0+i]+1)
					}
					m.bl.Sgemm(blas.NoTrans, blas.NoTrans, R, hs, n, 1, sc, n, Vc[base+h*hs:], C, 0, buf.atty[b0*C+h*hs:], C)
				}
			}
		})
		m.matmulForward(buf.tmp, buf.atty, lp.projw, lp.projb, nb, C, C)
		residual(buf.x, buf.x, buf.tmp, nil)
		layerNormForward(buf.ln, buf.mean, buf.rstd, buf.x, lp.ln2g, lp.ln2b, nb, C)
		m.matmulForward(buf.fch, buf.ln, lp.fcw, lp.fcb, nb, C, 4*C)
		geluForward(buf.fchg, nil, buf.fch)
		m.matmulForward(buf.tmp, buf.fchg, lp.fcprojw, lp.fcprojb, nb, 4*C, C)
		residual(buf.x, buf.x, buf.tmp, nil)
	}
	layerNormForward(buf.ln, buf.mean, buf.rstd, buf.x, m.p.lnfg, m.p.lnfb, nb, C)
	if m.Copy {
		m.copyKeys(buf, cache, tokens, pos, slots)
	}
	if want == nil {
		want = make([]int, nb)
		for i := range want {
			want[i] = i
		}
	}
	nw := len(want)
	buf.lnw, buf.logits = grow(buf.lnw, nw*C), grow(buf.logits, nw*V)
	for k, i := range want {
		copy(buf.lnw[k*C:(k+1)*C], buf.ln[i*C:(i+1)*C])
	}
	m.matmulForward(buf.logits, buf.lnw, m.p.wte, nil, nw, C, V)
	m.maskDead(buf.logits, nw)
	if m.Copy {
		m.copyStep(buf, cache, pos, slots, want)
	}
	return buf.logits
}

// stepRun is a run of step rows [r0, r1) of one slot at consecutive
// positions.
type stepRun struct{ r0, r1 int }

func stepRuns(pos, slots []int) []stepRun {
	var out []stepRun
	for i := range pos {
		if n := len(out); n > 0 && slots[i] == slots[i-1] && pos[i] == pos[i-1]+1 {
			out[n-1].r1 = i + 1
			continue
		}
		out = append(out, stepRun{i, i + 1})
	}
	return out
}

// copyKeys stores the copy keys and tokens of step's rows in the cache,
// all of them before any row mixes (copyStep), as step does with keys and
// values.
func (m *model) copyKeys(buf *decodeBuf, cache *kvCache, tokens []int32, pos, slots []int) {
	C, nb := m.DModel, len(tokens)
	buf.ck = grow(buf.ck, nb*C)
	m.matmulForward(buf.ck, buf.ln, m.p.ck, nil, nb, C, C)
	for i := range nb {
		at := cache.base[slots[i]] + pos[i]
		copy(cache.ck[at*C:(at+1)*C], buf.ck[i*C:(i+1)*C])
		cache.tok[at] = tokens[i]
	}
}

// copyStep is copyForward for the wanted rows of step: their logits
// become the mixture over the vocabulary and the tokens after every
// earlier position of their sequence.
func (m *model) copyStep(buf *decodeBuf, cache *kvCache, pos, slots []int, want []int) {
	C, V, T := m.DModel, m.Vocab, m.Context
	nw := len(want)
	buf.cq, buf.att, buf.logpv = grow(buf.cq, nw*C), grow(buf.att, nw*T), grow(buf.logpv, nw*V)
	m.matmulForward(buf.cq, buf.lnw, m.p.cq, nil, nw, C, C)
	parallelFor(nw, 4, func(lo, hi int) {
		s := newCopyScratch(V, T)
		for k := lo; k < hi; k++ {
			i := want[k]
			base := cache.base[slots[i]]
			gl := dot(buf.lnw[k*C:(k+1)*C], m.p.cgw) + m.p.cgb[0]
			m.copyRow(buf.logits[k*V:(k+1)*V], buf.cq[k*C:(k+1)*C], cache.ck[base*C:], cache.tok[base+1:], pos[i], gl,
				buf.att[k*T:(k+1)*T], buf.logpv[k*V:(k+1)*V], s)
		}
	})
}

// Generate implements sdk.Model: all contexts decode together, one token per
// sequence per step, over a KV cache. A prompt longer than context-reserve
// tokens keeps only its last context-reserve tokens, from the first whole
// line among them (m.tail; the rule training
// uses, so TrainPolicy and Logprobs score a completion on the context it
// was sampled from); a sequence that fills the window stops with
// StopReason "context". MaxTokens 0 means "until the window is full". The same seed gives the same text:
// each context samples from its own generator (contextRNG).
func (m *Model) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.ready(); err != nil {
		return sdk.GenerateResponse{}, err
	}
	S := req.Sampling
	if S.Temperature < 0 || S.TopP < 0 || S.TopP > 1 || S.MaxTokens < 0 {
		return sdk.GenerateResponse{}, fmt.Errorf("transformer: bad sampling: temperature %g, top_p %g, max_tokens %d", S.Temperature, S.TopP, S.MaxTokens)
	}
	n := len(req.Contexts)
	if n == 0 {
		return sdk.GenerateResponse{}, nil
	}
	T, V := m.cfg.Context, m.cfg.Vocab
	room := S.MaxTokens
	if room == 0 {
		room = T
	}
	keep := m.cfg.keep()
	prompts := make([][]int32, n)
	for i, c := range req.Contexts {
		p := m.tok.Encode(c)
		if len(p) == 0 {
			p = []int32{'\n'} // as in training: the first token needs a predecessor
		}
		if len(p) > keep {
			p = m.tail(p, keep)
			m.truncations++
		}
		prompts[i] = p
	}
	capacity := make([]int, n)
	for i, p := range prompts {
		capacity[i] = min(T, len(p)+room)
	}
	cache := newKVCache(m.net.arch, capacity)
	logits, err := m.prefillDistinct(prompts, cache, true)
	if err != nil {
		return sdk.GenerateResponse{}, err
	}

	type state struct {
		rng    *rand.Rand
		length int // tokens in the window so far
		gen    []byte
		out    sdk.Completion
	}
	st := make([]*state, n)
	for i := range st {
		st[i] = &state{rng: contextRNG(S, i, n), length: len(prompts[i])}
	}
	stops := make([][]byte, 0, len(S.Stop))
	for _, s := range S.Stop {
		if s != "" {
			stops = append(stops, []byte(s))
		}
	}
	active := make([]int, n) // active[r] = context index of logits row r
	for i := range active {
		active[i] = i
	}
	var buf decodeBuf
	probs := make([]float64, V)
	for len(active) > 0 {
		if err := ctx.Err(); err != nil {
			return sdk.GenerateResponse{}, fmt.Errorf("transformer: %w", err)
		}
		var next []int
		var toks []int32
		var pos, slots []int
		for r, i := range active {
			s := st[i]
			row := logits[r*V : (r+1)*V]
			tok, lp := sample(row, S, s.rng, probs)
			if tok < 0 {
				return sdk.GenerateResponse{}, fmt.Errorf("transformer: generate: the logits of context %d are not finite (NaN or infinite weights; did training diverge?)", i)
			}
			s.out.Tokens = append(s.out.Tokens, tok)
			s.out.Logprobs = append(s.out.Logprobs, lp)
			prev := len(s.gen)
			s.gen = append(s.gen, m.tok.tokenBytes(tok)...)
			s.length++
			if end, ok := findStop(s.gen, prev, stops); ok {
				s.gen, s.out.StopReason = s.gen[:end], "stop"
			} else if S.MaxTokens > 0 && len(s.out.Tokens) >= S.MaxTokens {
				s.out.StopReason = "length"
			} else if s.length >= T {
				s.out.StopReason = "context"
			} else {
				next = append(next, i)
				toks = append(toks, tok)
				pos = append(pos, s.length-1)
				slots = append(slots, i)
			}
		}
		active = next
		if len(active) > 0 {
			logits = m.net.step(&buf, cache, toks, pos, slots, nil)
		}
	}
	resp := sdk.GenerateResponse{Completions: make([]sdk.Completion, n)}
	for i, s := range st {
		// Byte-level tokens can stop inside a UTF-8 sequence; text on the
		// wire must be valid UTF-8, and Tokens keep the exact bytes.
		s.out.Text = strings.ToValidUTF8(string(s.gen), "\uFFFD")
		resp.Completions[i] = s.out
	}
	return resp, nil
}

// contextRNG is context i's sampler among n: seeded by Seeds[i] alone when
// the request gives one seed per context (a rollout's, whose draws must not
// depend on the batch), else by (Seed, i).
func contextRNG(S sdk.Sampling, i, n int) *rand.Rand {
	if len(S.Seeds) == n {
		return rand.New(rand.NewPCG(uint64(S.Seeds[i]), 0x5eed))
	}
	return rand.New(rand.NewPCG(uint64(S.Seed), uint64(i)))
}

// prefillDistinct prefills prompt i into cache slot i and returns every
// prompt's last-position logits [len(prompts), V]. Identical prompts (a
// GRPO group, pass@k samples) are run once, from the prefix cache when it
// is on and usePrefix; their copies get the keys, values and logits by
// copying.
func (m *Model) prefillDistinct(prompts [][]int32, cache *kvCache, usePrefix bool) ([]float32, error) {
	V := m.net.Vocab
	first := map[string]int{}
	var uniq [][]int32
	var uslot []int
	owner := make([]int, len(prompts))
	for i, p := range prompts {
		k := tokensKey(p)
		u, ok := first[k]
		if !ok {
			u = len(uniq)
			first[k] = u
			uniq, uslot = append(uniq, p), append(uslot, i)
		}
		owner[i] = u
	}
	var ulogits []float32
	var err error
	if m.prefix != nil && usePrefix {
		ulogits, err = m.prefillCached(uniq, cache, uslot)
	} else {
		ulogits, err = m.net.prefill(uniq, cache, uslot, m.cfg.BatchTokens)
	}
	if err != nil {
		return nil, err
	}
	logits := make([]float32, len(prompts)*V)
	for i, u := range owner {
		copy(logits[i*V:(i+1)*V], ulogits[u*V:(u+1)*V])
		if src := uslot[u]; src != i {
			cache.copySlot(src, i, len(prompts[i]), m.net.DModel)
		}
	}
	return logits, nil
}

// tokensKey is a map key for a token sequence.
func tokensKey(p []int32) string {
	b := make([]byte, 4*len(p))
	for i, t := range p {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(t))
	}
	return string(b)
}

// findStop looks for a stop string ending in the bytes added after prev and
// returns the end of the first match.
func findStop(gen []byte, prev int, stops [][]byte) (int, bool) {
	best := -1
	for _, s := range stops {
		from := max(0, prev-len(s)+1)
		if k := bytes.Index(gen[from:], s); k >= 0 {
			if end := from + k + len(s); best < 0 || end < best {
				best = end
			}
		}
	}
	return best, best >= 0
}

// sample picks the next token from raw logits and returns it with its
// log-probability under the unmodified model distribution. Temperature 0 is
// greedy; otherwise logits/temperature are softmaxed and, with 0 < TopP < 1,
// restricted to the smallest set of tokens whose mass reaches TopP. Logits
// without a finite log-sum-exp (NaN or infinite: weights a diverged run
// saved) give -1: no token is more likely than another, and the scan below
// would otherwise fall through to the last id, which the tokenizer may lack.
func sample(logits []float32, S sdk.Sampling, rng *rand.Rand, probs []float64) (int32, float64) {
	mx := logits[0]
	arg := 0
	for j, x := range logits {
		if x > mx {
			mx, arg = x, j
		}
	}
	var sum float64
	for _, x := range logits {
		sum += math.Exp(float64(x - mx))
	}
	lse := float64(mx) + math.Log(sum)
	if math.IsNaN(lse) || math.IsInf(lse, 0) {
		return -1, math.NaN()
	}
	if S.Temperature == 0 {
		return int32(arg), float64(logits[arg]) - lse
	}
	var z float64
	for j, x := range logits {
		probs[j] = math.Exp(float64(x-mx) / S.Temperature)
		z += probs[j]
	}
	idx := make([]int, 0, len(logits))
	for j := range logits {
		idx = append(idx, j)
	}
	limit := z
	if S.TopP > 0 && S.TopP < 1 {
		sort.Slice(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
		var c float64
		for k, j := range idx {
			c += probs[j]
			if c >= S.TopP*z {
				idx, limit = idx[:k+1], c
				break
			}
		}
	}
	u := rng.Float64() * limit
	pick := idx[len(idx)-1]
	for _, j := range idx {
		u -= probs[j]
		if u < 0 {
			pick = j
			break
		}
	}
	return int32(pick), float64(logits[pick]) - lse
}

// generateUncached decodes greedily by rerunning the whole sequence through
// forward for every new token; it exists to measure (and test) the cache.
func (m *model) generateUncached(prompt []int32, n int) ([]int32, error) {
	seq := append([]int32(nil), prompt...)
	var out []int32
	for range n {
		if len(seq) > m.Context {
			return out, errors.New("transformer: context full")
		}
		if err := m.forward(seq, 1, len(seq), []int32{int32(len(seq) - 1)}, nil); err != nil {
			return out, err
		}
		row := m.a.logits[:m.Vocab]
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		out = append(out, int32(best))
		seq = append(seq, int32(best))
	}
	return out, nil
}
