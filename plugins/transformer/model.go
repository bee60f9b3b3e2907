package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// This file is the network itself, in the order data flows through it:
// parameters, embeddings, blocks (LayerNorm -> attention -> residual,
// LayerNorm -> MLP with GELU -> residual), final LayerNorm and the tied
// output head; each stage's backward sits in backward() in reverse order.
// All tensors are row-major float32 slices; N = B*T rows of width C.

// arch is the shape of the network.
type arch struct {
	Layers, DModel, Heads, Context, Vocab int
	// Rope rotates queries and keys by position (rope.go) instead of
	// adding a learned position embedding; wpe then stays in the slab,
	// unused, so both kinds of checkpoint share one layout.
	Rope bool
	// Copy adds the copy head (copyhead.go); its parameters come last in
	// the slab, so a checkpoint without them is a prefix of one with them.
	Copy bool
}

// paramSpec names one parameter tensor inside the flat parameter slab.
type paramSpec struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	off   int
	decay bool // weight decay applies to matrices, not to gains and biases
}

func (p paramSpec) size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// specs lists every parameter in slab order.
func (a arch) specs() []paramSpec {
	C, V, T := a.DModel, a.Vocab, a.Context
	var out []paramSpec
	add := func(name string, decay bool, shape ...int) {
		out = append(out, paramSpec{Name: name, Shape: shape, decay: decay})
	}
	add("wte", true, V, C)
	add("wpe", true, T, C)
	for l := 0; l < a.Layers; l++ {
		p := fmt.Sprintf("h%d.", l)
		add(p+"ln1.g", false, C)
		add(p+"ln1.b", false, C)
		add(p+"attn.qkv.w", true, 3*C, C)
		add(p+"attn.qkv.b", false, 3*C)
		add(p+"attn.proj.w", true, C, C)
		add(p+"attn.proj.b", false, C)
		add(p+"ln2.g", false, C)
		add(p+"ln2.b", false, C)
		add(p+"mlp.fc.w", true, 4*C, C)
		add(p+"mlp.fc.b", false, 4*C)
		add(p+"mlp.proj.w", true, C, 4*C)
		add(p+"mlp.proj.b", false, C)
	}
	add("lnf.g", false, C)
	add("lnf.b", false, C)
	if a.Copy {
		add("copy.q.w", true, C, C)
		add("copy.k.w", true, C, C)
		add("copy.gate.w", false, C)
		add("copy.gate.b", false, 1)
	}
	off := 0
	for i := range out {
		out[i].off = off
		off += out[i].size()
	}
	return out
}

// layerParams are views of one block's tensors (weights are [out, in]).
type layerParams struct {
	ln1g, ln1b, qkvw, qkvb, projw, projb   []float32
	ln2g, ln2b, fcw, fcb, fcprojw, fcprojb []float32
}

// params are views into a slab; the same type views gradients.
type params struct {
	data       []float32
	wte, wpe   []float32
	lnfg, lnfb []float32
	layers     []layerParams
	// the copy head's query and key projections [C,C], gate weights [C]
	// and bias [1]; nil without it
	cq, ck, cgw, cgb []float32
}

func newParams(a arch, data []float32) *params {
	sp := a.specs()
	v := func(i int) []float32 { s := sp[i]; return data[s.off : s.off+s.size() : s.off+s.size()] }
	p := &params{data: data, wte: v(0), wpe: v(1)}
	i := 2
	for l := 0; l < a.Layers; l++ {
		p.layers = append(p.layers, layerParams{
			ln1g: v(i), ln1b: v(i + 1), qkvw: v(i + 2), qkvb: v(i + 3), projw: v(i + 4), projb: v(i + 5),
			ln2g: v(i + 6), ln2b: v(i + 7), fcw: v(i + 8), fcb: v(i + 9), fcprojw: v(i + 10), fcprojb: v(i + 11),
		})
		i += 12
	}
	p.lnfg, p.lnfb = v(i), v(i+1)
	if a.Copy {
		p.cq, p.ck, p.cgw, p.cgb = v(i+2), v(i+3), v(i+4), v(i+5)
	}
	return p
}

func (a arch) numParams() int {
	sp := a.specs()
	last := sp[len(sp)-1]
	return last.off + last.size()
}

// initParams draws GPT-2 style initial weights: N(0, 0.02), residual
// projections scaled by 1/sqrt(2 layers) so the residual stream's variance
// does not grow with depth, gains 1, biases 0.
func initParams(a arch, p *params, rng *rand.Rand) {
	normal := func(x []float32, std float64) {
		for i := range x {
			x[i] = float32(rng.NormFloat64() * std)
		}
	}
	ones := func(x []float32) {
		for i := range x {
			x[i] = 1
		}
	}
	normal(p.wte, 0.02)
	normal(p.wpe, 0.01)
	res := 0.02 / math.Sqrt(2*float64(a.Layers))
	for _, l := range p.layers {
		ones(l.ln1g)
		ones(l.ln2g)
		normal(l.qkvw, 0.02)
		normal(l.projw, res)
		normal(l.fcw, 0.02)
		normal(l.fcprojw, res)
	}
	ones(p.lnfg)
	if a.Copy {
		normal(p.cq, 0.02)
		normal(p.ck, 0.02)
	}
}

// layerActs are one block's saved activations for a batch of N rows.
type layerActs struct {
	ln1, ln1m, ln1r []float32 // [N,C], [N], [N]
	qkv             []float32 // [N,3C]
	att             []float32 // [B,H,T,T]
	atty            []float32 // [N,C] attention output before the projection
	res2            []float32 // [N,C] residual after attention
	ln2, ln2m, ln2r []float32
	fch, fchg, fcht []float32 // [N,4C] before and after GELU, and GELU's tanh
	res3            []float32 // [N,C] residual after the MLP
	drop1, drop2    []float32 // [N,C] dropout scale masks (nil without dropout)
}

// acts holds the activations of one forward pass and the scratch of its
// backward; buffers grow to the largest batch seen and are then reused, so
// steady-state training does not allocate.
type acts struct {
	B, T    int
	tokens  []int32
	enc     []float32
	layers  []layerActs
	lnf     []float32
	lnfm    []float32
	lnfr    []float32
	tmp     []float32 // [N,C]
	rows    []int32   // positions whose next-token logits are wanted
	lnfRows []float32 // [M,C]
	logits  []float32 // [M,V]; probabilities after softmaxXent, then gradients
	copy    copyActs
	// backward scratch
	dres, dln, datty, dqkv, dfch, dfchg, dlnf, dlnfRows []float32
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// model is the network: architecture, parameters, gradients and the BLAS
// that runs its matrix products.
type model struct {
	arch
	bl      blas.Float32
	p, g    *params
	dropout float32
	// live is the tokenizer's size: ids from live to Vocab-1 exist in the
	// embedding but not in the tokenizer, so their logits are forced to -inf.
	live int
	a    acts
	rope *ropeTable // nil with learned positions
}

func newModel(a arch, bl G.BLAS) *model {
	n := a.numParams()
	m := &model{arch: a, bl: bl, p: newParams(a, make([]float32, n)), g: newParams(a, make([]float32, n))}
	if a.Rope {
		m.rope = newRopeTable(a.Context, a.DModel/a.Heads)
	}
	return m
}

// positionEmbedding is the learned embedding added at position t, or nil
// with rotary positions.
func (m *model) positionEmbedding(p *params, t int) []float32 {
	if m.rope != nil {
		return nil
	}
	return p.wpe[t*m.DModel : (t+1)*m.DModel]
}

// matmulForward computes out[N,OC] = inp[N,IC] w[OC,IC]^T + bias.
func (m *model) matmulForward(out, inp, w, bias []float32, n, ic, oc int) {
	parSgemm(m.bl, blas.NoTrans, blas.Trans, n, oc, ic, 1, inp, ic, w, ic, 0, out, oc)
	if bias != nil {
		parallelFor(n, 64, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := out[i*oc : (i+1)*oc]
				for j := range row {
					row[j] += bias[j]
				}
			}
		})
	}
}

// matmulBackward sets dinp = dout w and adds dout^T inp to dw and the
// column sums of dout to db (nil: no bias).
func (m *model) matmulBackward(dinp, dw, db, dout, inp, w []float32, n, ic, oc int) {
	parSgemm(m.bl, blas.NoTrans, blas.NoTrans, n, ic, oc, 1, dout, oc, w, ic, 0, dinp, ic)
	parSgemm(m.bl, blas.Trans, blas.NoTrans, oc, ic, n, 1, dout, oc, inp, ic, 1, dw, ic)
	if db == nil {
		return
	}
	parallelFor(oc, 64, func(lo, hi int) {
		for i := 0; i < n; i++ {
			row := dout[i*oc : (i+1)*oc]
			for j := lo; j < hi; j++ {
				db[j] += row[j]
			}
		}
	})
}

// forward runs tokens [B,T] through the network and leaves in a.logits the
// [len(rows), V] logits of the positions listed in rows. Only those rows
// reach the output head: with long masked prompts that skips most of the
// largest matrix product. rng != nil turns dropout on.
func (m *model) forward(tokens []int32, B, T int, rows []int32, rng *rand.Rand) error {
	C, H, V, N := m.DModel, m.Heads, m.Vocab, B*T
	if T > m.Context {
		return fmt.Errorf("transformer: sequence of %d tokens exceeds the context of %d", T, m.Context)
	}
	a := &m.a
	a.B, a.T, a.tokens, a.rows = B, T, tokens, rows
	a.enc = grow(a.enc, N*C)
	for i, tok := range tokens {
		if tok < 0 || int(tok) >= V {
			return fmt.Errorf("transformer: token id %d outside the vocabulary of %d", tok, V)
		}
		e, w := a.enc[i*C:(i+1)*C], m.p.wte[int(tok)*C:]
		copy(e, w[:C])
		if p := m.positionEmbedding(m.p, i%T); p != nil {
			for j := range e {
				e[j] += p[j]
			}
		}
	}
	if len(a.layers) != m.Layers {
		a.layers = make([]layerActs, m.Layers)
	}
	a.tmp = grow(a.tmp, N*C)
	res := a.enc
	useDrop := rng != nil && m.dropout > 0
	for l := range a.layers {
		la, lp := &a.layers[l], &m.p.layers[l]
		la.ln1, la.ln1m, la.ln1r = grow(la.ln1, N*C), grow(la.ln1m, N), grow(la.ln1r, N)
		la.qkv, la.att, la.atty = grow(la.qkv, N*3*C), grow(la.att, B*H*T*T), grow(la.atty, N*C)
		la.res2, la.res3 = grow(la.res2, N*C), grow(la.res3, N*C)
		la.ln2, la.ln2m, la.ln2r = grow(la.ln2, N*C), grow(la.ln2m, N), grow(la.ln2r, N)
		la.fch, la.fchg, la.fcht = grow(la.fch, N*4*C), grow(la.fchg, N*4*C), grow(la.fcht, N*4*C)

		layerNormForward(la.ln1, la.ln1m, la.ln1r, res, lp.ln1g, lp.ln1b, N, C)
		m.matmulForward(la.qkv, la.ln1, lp.qkvw, lp.qkvb, N, C, 3*C)
		if m.rope != nil {
			m.rope.rotate(la.qkv, N, C, H, func(i int) int { return i % T }, false)
		}
		attentionForward(m.bl, la.atty, la.att, la.qkv, B, T, C, H)
		m.matmulForward(a.tmp, la.atty, lp.projw, lp.projb, N, C, C)
		la.drop1 = m.dropMask(la.drop1, N*C, useDrop, rng)
		residual(la.res2, res, a.tmp, la.drop1)

		layerNormForward(la.ln2, la.ln2m, la.ln2r, la.res2, lp.ln2g, lp.ln2b, N, C)
		m.matmulForward(la.fch, la.ln2, lp.fcw, lp.fcb, N, C, 4*C)
		geluForward(la.fchg, la.fcht, la.fch)
		m.matmulForward(a.tmp, la.fchg, lp.fcprojw, lp.fcprojb, N, 4*C, C)
		la.drop2 = m.dropMask(la.drop2, N*C, useDrop, rng)
		residual(la.res3, la.res2, a.tmp, la.drop2)
		res = la.res3
	}
	a.lnf, a.lnfm, a.lnfr = grow(a.lnf, N*C), grow(a.lnfm, N), grow(a.lnfr, N)
	layerNormForward(a.lnf, a.lnfm, a.lnfr, res, m.p.lnfg, m.p.lnfb, N, C)
	// Gather the wanted rows, then logits [M,V] = lnfRows [M,C] wte^T.
	M := len(rows)
	a.lnfRows, a.logits = grow(a.lnfRows, M*C), grow(a.logits, M*V)
	for i, r := range rows {
		copy(a.lnfRows[i*C:(i+1)*C], a.lnf[int(r)*C:(int(r)+1)*C])
	}
	if M > 0 {
		m.matmulForward(a.logits, a.lnfRows, m.p.wte, nil, M, C, V)
		m.maskDead(a.logits, M)
		if m.Copy {
			m.copyForward()
		}
	}
	return nil
}

// maskDead sets the logits of ids the tokenizer lacks to -inf.
func (m *model) maskDead(logits []float32, rows int) {
	if m.live <= 0 || m.live >= m.Vocab {
		return
	}
	inf := float32(math.Inf(-1))
	for i := range rows {
		row := logits[i*m.Vocab+m.live : (i+1)*m.Vocab]
		for j := range row {
			row[j] = inf
		}
	}
}

// dropMask returns nil when dropout is off, else a mask of 0 or 1/(1-p).
func (m *model) dropMask(buf []float32, n int, on bool, rng *rand.Rand) []float32 {
	if !on {
		return nil
	}
	buf = grow(buf, n)
	keep := 1 / (1 - m.dropout)
	for i := range buf {
		if rng.Float32() < m.dropout {
			buf[i] = 0
		} else {
			buf[i] = keep
		}
	}
	return buf
}

// residual sets out = x + y*mask (mask nil = 1).
func residual(out, x, y, mask []float32) {
	parallelFor(len(out), 1<<14, func(lo, hi int) {
		if mask == nil {
			for i := lo; i < hi; i++ {
				out[i] = x[i] + y[i]
			}
			return
		}
		for i := lo; i < hi; i++ {
			out[i] = x[i] + y[i]*mask[i]
		}
	})
}

// backward adds to m.g the gradients of the last forward, given in a.logits
// the gradient with respect to the gathered logits (see xentBackward).
func (m *model) backward() {
	a := &m.a
	B, T, C, H, V := a.B, a.T, m.DModel, m.Heads, m.Vocab
	N, M := B*T, len(a.rows)
	a.dres, a.dln, a.datty = grow(a.dres, N*C), grow(a.dln, N*C), grow(a.datty, N*C)
	a.dqkv, a.dfch, a.dfchg = grow(a.dqkv, N*3*C), grow(a.dfch, N*4*C), grow(a.dfchg, N*4*C)
	a.dlnf, a.dlnfRows = grow(a.dlnf, N*C), grow(a.dlnfRows, M*C)

	// Output head (tied to wte): dlnfRows = dlogits wte ; dwte += dlogits^T lnfRows.
	clear(a.dlnf)
	if M > 0 {
		if m.Copy {
			m.copyBackward() // a.logits becomes the gradient of the vocabulary logits
		}
		m.matmulBackward(a.dlnfRows, m.g.wte, nil, a.logits, a.lnfRows, m.p.wte, M, C, V)
		for i, r := range a.rows {
			d := a.dlnf[int(r)*C : (int(r)+1)*C]
			for j, v := range a.dlnfRows[i*C : (i+1)*C] {
				d[j] += v
			}
		}
	}
	clear(a.dres)
	last := a.enc
	if m.Layers > 0 {
		last = a.layers[m.Layers-1].res3
	}
	layerNormBackward(a.dres, m.g.lnfg, m.g.lnfb, a.dlnf, last, a.lnfm, a.lnfr, m.p.lnfg, N, C)

	for l := m.Layers - 1; l >= 0; l-- {
		la, lp, lg := &a.layers[l], &m.p.layers[l], &m.g.layers[l]
		resIn := a.enc
		if l > 0 {
			resIn = a.layers[l-1].res3
		}
		// MLP: res3 = res2 + drop(fcproj(gelu(fc(ln2(res2)))))
		dy := masked(a.tmp, a.dres, la.drop2)
		m.matmulBackward(a.dfchg, lg.fcprojw, lg.fcprojb, dy, la.fchg, lp.fcprojw, N, 4*C, C)
		clear(a.dfch)
		geluBackward(a.dfch, la.fch, la.fcht, a.dfchg)
		m.matmulBackward(a.dln, lg.fcw, lg.fcb, a.dfch, la.ln2, lp.fcw, N, C, 4*C)
		layerNormBackward(a.dres, lg.ln2g, lg.ln2b, a.dln, la.res2, la.ln2m, la.ln2r, lp.ln2g, N, C)
		// Attention: res2 = res + drop(proj(attn(qkv(ln1(res)))))
		dy = masked(a.tmp, a.dres, la.drop1)
		m.matmulBackward(a.datty, lg.projw, lg.projb, dy, la.atty, lp.projw, N, C, C)
		clear(a.dqkv)
		attentionBackward(m.bl, a.dqkv, a.datty, la.att, la.qkv, B, T, C, H)
		if m.rope != nil {
			m.rope.rotate(a.dqkv, N, C, H, func(i int) int { return i % T }, true)
		}
		m.matmulBackward(a.dln, lg.qkvw, lg.qkvb, a.dqkv, la.ln1, lp.qkvw, N, C, 3*C)
		layerNormBackward(a.dres, lg.ln1g, lg.ln1b, a.dln, resIn, la.ln1m, la.ln1r, lp.ln1g, N, C)
	}
	// Embeddings: split by column so workers never write the same element.
	parallelFor(C, 32, func(lo, hi int) {
		for i, tok := range a.tokens {
			d := a.dres[i*C : (i+1)*C]
			w := m.g.wte[int(tok)*C:]
			for j := lo; j < hi; j++ {
				w[j] += d[j]
			}
			if p := m.positionEmbedding(m.g, i%T); p != nil {
				for j := lo; j < hi; j++ {
					p[j] += d[j]
				}
			}
		}
	})
}

// masked returns d*mask in buf, or d itself when mask is nil.
func masked(buf, d, mask []float32) []float32 {
	if mask == nil {
		return d
	}
	for i := range d {
		buf[i] = d[i] * mask[i]
	}
	return buf
}
