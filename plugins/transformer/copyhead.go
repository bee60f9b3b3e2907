package transformer

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// The copy head (arch.Copy, the `copy` option) is a pointer network on top
// of the language-model head, in the manner of pointer-generator networks
// (See et al., 2017) and the pointer decoders of program repair (DeepFix,
// DrRepair). A repair command mostly repeats text the model has just read:
// a line number from the traceback, a misspelt name from the program, a
// line to fix. A small transformer trained for minutes does not grow the
// attention circuit that copies (an "induction head"); the copy head gives
// it one. At every position i it attends from a query q_i over keys k_j of
// the earlier positions j < i and proposes the token that followed each of
// them, tokens[j+1]: the induction pattern "find where the current text
// occurred before and continue it", with the match learned. A gate g_i
// mixes the two:
//
//	P(w) = g_i softmax(z_i)(w) + (1-g_i) sum_{j<i, tokens[j+1]=w} a_ij
//	a_i  = softmax_j(q_i . k_j / sqrt(C)),  q = cq h, k = ck h,
//	g_i  = sigmoid(cg . h_i + cb)
//
// with h the final LayerNorm's output. The network's "logits" become
// log P, already normalised, so everything downstream (cross-entropy,
// sampling with temperature, log-probabilities for GRPO) is unchanged.
// Position 0 has nothing before it and uses the vocabulary alone.

// copyActs are the copy head's saved activations for M scored rows of a
// batch of N positions.
type copyActs struct {
	q, k   []float32 // [M,C] queries of the scored rows, [N,C] keys of every position
	att    []float32 // [M,T] attention of each scored row over its sequence's positions
	gate   []float32 // [M] gate logits
	logpv  []float32 // [M,V] log softmax of the vocabulary head
	dq, dk []float32 // backward scratch, [M,C] and [N,C]
	dgate  []float32 // [M]
	dln    []float32 // [N,C]
}

// logSigmoid returns log sigmoid(x) and log(1 - sigmoid(x)) without
// overflow for large |x|.
func logSigmoid(x float64) (float64, float64) {
	softplus := func(v float64) float64 { // log(1 + e^v)
		if v > 30 {
			return v
		}
		return math.Log1p(math.Exp(v))
	}
	return -softplus(-x), -softplus(x)
}

// copyScratch is one worker's per-row buffers.
type copyScratch struct {
	mass, mix, da []float32
	toks          []int32   // the distinct tokens a row's positions propose
	gw            []float32 // their incoming gradients
}

func newCopyScratch(V, T int) *copyScratch {
	return &copyScratch{mass: make([]float32, V), mix: make([]float32, V), da: make([]float32, T)}
}

// mixRow writes into out the log-probabilities of the mixture, given the
// vocabulary head's log-softmax logpv, the attention att over n source
// positions whose successors are succ[:n], and the gate logit gl. mass is
// zero on entry and on return.
func mixRow(out, logpv, att []float32, succ []int32, n int, gl float32, mass []float32) {
	if n == 0 {
		copy(out, logpv)
		return
	}
	lg, l1g := logSigmoid(float64(gl))
	for w, v := range logpv {
		out[w] = float32(lg) + v
	}
	for j := range n {
		mass[succ[j]] += att[j]
	}
	for j := range n {
		w := succ[j]
		if mass[w] == 0 {
			continue // already mixed (a repeated token), or no mass at all
		}
		a, b := float64(out[w]), l1g+math.Log(float64(mass[w]))
		hi, lo := max(a, b), min(a, b)
		out[w] = float32(hi + math.Log1p(math.Exp(lo-hi)))
		mass[w] = 0
	}
}

// copyRow turns one row of vocabulary logits z (length V) into the
// mixture's log-probabilities in place, for decoding. q is the row's
// query; keys hold n source positions (row stride C) whose successors are
// succ[:n]; gl is the gate logit; att [n] and logpv [V] are scratch.
func (m *model) copyRow(z, q, keys []float32, succ []int32, n int, gl float32, att, logpv []float32, s *copyScratch) {
	if n > 0 {
		C := m.DModel
		m.bl.Sgemv(blas.NoTrans, n, C, float32(1/math.Sqrt(float64(C))), keys, C, q, 1, 0, att, 1)
	}
	mixScored(z, att, succ, n, gl, logpv, s.mass)
}

// mixScored turns one row's copy scores att[:n] into attention and its
// vocabulary logits z into the mixture's log-probabilities, in place,
// keeping the log-softmax in logpv: the part of the copy head that decoding
// (copyRow) and training (copyForward) share.
func mixScored(z, att []float32, succ []int32, n int, gl float32, logpv, mass []float32) {
	softmaxPrefix(att, n)
	logSoftmax(logpv, z)
	mixRow(z, logpv, att, succ, n, gl, mass)
}

// softmaxPrefix normalises row[:n] to probabilities and zeroes the rest.
func softmaxPrefix(row []float32, n int) {
	if n > 0 {
		mx := row[0]
		for _, v := range row[1:n] {
			mx = max(mx, v)
		}
		inv := 1 / expShift(row[:n], mx)
		for j := range n {
			row[j] *= inv
		}
	}
	clear(row[n:])
}

// seqRun is a run of consecutive scored rows [r0, r1) of sequence b.
type seqRun struct{ b, r0, r1 int }

// runsOf splits the scored rows into runs of one sequence each (pack and
// prefill list each sequence's rows together, so there is one per
// sequence), so the copy scores of a run are one matrix product.
func runsOf(rows []int32, T int) []seqRun {
	var out []seqRun
	for r, row := range rows {
		b := int(row) / T
		if len(out) == 0 || out[len(out)-1].b != b {
			out = append(out, seqRun{b: b, r0: r})
		}
		out[len(out)-1].r1 = r + 1
	}
	return out
}

// width is the number of source columns a run needs: its last position.
func (u seqRun) width(rows []int32, T int) int {
	w := 0
	for _, row := range rows[u.r0:u.r1] {
		w = max(w, int(row)%T)
	}
	return w
}

// logSoftmax sets out = z - logsumexp(z); -inf entries (dead ids) stay -inf.
func logSoftmax(out, z []float32) {
	mx := z[0]
	for _, v := range z {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range z {
		sum += float64(expf32(v - mx))
	}
	lse := mx + float32(math.Log(sum))
	for w, v := range z {
		out[w] = v - lse
	}
}

// copyForward runs the copy head over the last forward's final LayerNorm
// output and replaces a.logits (vocabulary logits of the scored rows) with
// the mixture's log-probabilities.
func (m *model) copyForward() {
	a := &m.a
	c := &a.copy
	B, T, C, V := a.B, a.T, m.DModel, m.Vocab
	N, M := B*T, len(a.rows)
	c.q, c.k, c.gate = grow(c.q, M*C), grow(c.k, N*C), grow(c.gate, M)
	c.att, c.logpv = grow(c.att, M*T), grow(c.logpv, M*V)
	m.matmulForward(c.k, a.lnf, m.p.ck, nil, N, C, C)
	m.matmulForward(c.q, a.lnfRows, m.p.cq, nil, M, C, C)
	for r := range M {
		c.gate[r] = dot(a.lnfRows[r*C:(r+1)*C], m.p.cgw) + m.p.cgb[0]
	}
	scale := float32(1 / math.Sqrt(float64(C)))
	runs := runsOf(a.rows, T)
	parallelFor(len(runs), 1, func(lo, hi int) {
		s := newCopyScratch(V, T)
		for _, u := range runs[lo:hi] {
			// att[r0:r1, 0:w] = scale * Q[r0:r1] K_b[0:w]^T, then per row a
			// softmax over the positions before it.
			if w := u.width(a.rows, T); w > 0 {
				m.bl.Sgemm(blas.NoTrans, blas.Trans, u.r1-u.r0, w, C, scale, c.q[u.r0*C:], C, c.k[u.b*T*C:], C, 0, c.att[u.r0*T:], T)
			}
			for r := u.r0; r < u.r1; r++ {
				mixScored(a.logits[r*V:(r+1)*V], c.att[r*T:(r+1)*T], a.tokens[u.b*T+1:], int(a.rows[r])%T, c.gate[r],
					c.logpv[r*V:(r+1)*V], s.mass)
			}
		}
	})
}

func dot(x, y []float32) float32 {
	var s float32
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

// copyBackward takes in a.logits the gradient with respect to the
// mixture's log-probabilities f, leaves there the gradient with respect to
// the vocabulary logits z, adds the copy head's parameter gradients to m.g
// and its input gradient to a.dlnf. Per row, with rho_w = g pv_w / P_w the
// share of P_w that came from the vocabulary and G = dL/df:
//
//	dL/dz_k  = G_k rho_k - pv_k sum_w G_w rho_w
//	dL/dgl   = sum_w G_w (rho_w - g)
//	dL/da_j  = G_w (1-g) / P_w          (w = tokens[j+1])
//	dL/ds_j  = a_j (dL/da_j - sum_j' a_j' dL/da_j')
func (m *model) copyBackward() {
	a := &m.a
	c := &a.copy
	B, T, C, V := a.B, a.T, m.DModel, m.Vocab
	N, M := B*T, len(a.rows)
	c.dq, c.dk, c.dgate, c.dln = grow(c.dq, M*C), grow(c.dk, N*C), grow(c.dgate, M), grow(c.dln, N*C)
	clear(c.dk)
	clear(c.dq)
	// Rows of one sequence write the same keys' gradients, so work is split
	// by sequence.
	runs := runsOf(a.rows, T)
	bySeq := make([][]seqRun, B)
	for _, u := range runs {
		bySeq[u.b] = append(bySeq[u.b], u)
	}
	scale := float32(1 / math.Sqrt(float64(C)))
	parallelFor(B, 1, func(lo, hi int) {
		s := newCopyScratch(V, T)
		for b := lo; b < hi; b++ {
			succ := a.tokens[b*T+1:]
			for _, u := range bySeq[b] {
				for r := u.r0; r < u.r1; r++ {
					m.copyRowBackward(r, succ, scale, s)
				}
				// c.att now holds dL/dscores: dQ = dS K_b, dK_b += dS^T Q.
				if w := u.width(a.rows, T); w > 0 {
					R := u.r1 - u.r0
					m.bl.Sgemm(blas.NoTrans, blas.NoTrans, R, C, w, 1, c.att[u.r0*T:], T, c.k[b*T*C:], C, 0, c.dq[u.r0*C:], C)
					m.bl.Sgemm(blas.Trans, blas.NoTrans, w, C, R, 1, c.att[u.r0*T:], T, c.q[u.r0*C:], C, 1, c.dk[b*T*C:], C)
				}
			}
		}
	})
	// Queries and gate read lnfRows; keys read lnf.
	dRows := c.dln[:M*C]
	m.matmulBackward(dRows, m.g.cq, nil, c.dq, a.lnfRows, m.p.cq, M, C, C)
	for r := range M {
		d, h, gr := dRows[r*C:(r+1)*C], a.lnfRows[r*C:(r+1)*C], c.dgate[r]
		for j := range d {
			d[j] += gr * m.p.cgw[j]
			m.g.cgw[j] += gr * h[j]
		}
		m.g.cgb[0] += gr
		dst := a.dlnf[int(a.rows[r])*C:]
		for j, v := range d {
			dst[j] += v
		}
	}
	m.matmulBackward(c.dln, m.g.ck, nil, c.dk, a.lnf, m.p.ck, N, C, C)
	for i, v := range c.dln[:N*C] {
		a.dlnf[i] += v
	}
}

// copyRowBackward turns row r of a.logits from dL/df into dL/dz, sets the
// row's gate gradient and overwrites its attention with dL/dscores. Only
// tokens that some earlier position proposes have rho != 1 and a copy
// gradient, so the passes over the whole vocabulary do no more than one
// exponential per token.
func (m *model) copyRowBackward(r int, succ []int32, scale float32, s *copyScratch) {
	a := &m.a
	c := &a.copy
	T, V := a.T, m.Vocab
	n := int(a.rows[r]) % T
	G, logpv, att := a.logits[r*V:(r+1)*V], c.logpv[r*V:(r+1)*V], c.att[r*T:r*T+n]
	var sumG float64
	for _, v := range G {
		sumG += float64(v)
	}
	c.dgate[r] = 0
	if n == 0 { // f = logpv: rho = 1 everywhere
		for k := range G {
			G[k] -= expf32(logpv[k]) * float32(sumG)
		}
		return
	}
	lg, l1g := logSigmoid(float64(c.gate[r]))
	g := math.Exp(lg)
	// The proposed tokens, their mass, f and rho (in s.mix), and G.
	toks := s.toks[:0]
	for j := range n {
		w := succ[j]
		if s.mix[w] == 0 { // first time: mark it listed
			s.mix[w] = -1
			toks = append(toks, w)
		}
		s.mass[w] += att[j]
	}
	sum := sumG
	gs := s.gw[:0]
	for _, w := range toks {
		if s.mass[w] == 0 { // attention that underflowed: nothing proposed
			s.mix[w] = 1
			gs = append(gs, G[w])
			continue
		}
		a, b := lg+float64(logpv[w]), l1g+math.Log(float64(s.mass[w]))
		hi, lo := max(a, b), min(a, b)
		fw := hi + math.Log1p(math.Exp(lo-hi))
		rho := math.Exp(a - fw)
		s.mix[w] = float32(rho)
		s.mass[w] = float32(math.Exp(l1g - fw)) // now (1-g)/P_w
		sum += float64(G[w]) * (rho - 1)
		gs = append(gs, G[w])
	}
	// dL/da_j = G_w (1-g)/P_w, then the softmax's backward.
	da := s.da[:n]
	var ada float64
	for j := range n {
		w := succ[j]
		da[j] = G[w] * s.mass[w]
		ada += float64(att[j]) * float64(da[j])
	}
	for j := range n {
		att[j] = att[j] * (da[j] - float32(ada)) * scale
	}
	c.dgate[r] = float32(sum - g*sumG)
	// dL/dz_k = G_k rho_k - pv_k sum, rho = 1 but for the proposed tokens.
	sum32 := float32(sum)
	for k := range G {
		G[k] -= expf32(logpv[k]) * sum32
	}
	for i, w := range toks {
		G[w] = gs[i]*s.mix[w] - expf32(logpv[w])*sum32
		s.mass[w], s.mix[w] = 0, 0
	}
	s.toks, s.gw = toks, gs
}
