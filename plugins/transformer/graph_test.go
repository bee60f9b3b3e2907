package transformer

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
)

// TestGraphMatchesKernels runs the same network as a gorgonia graph
// (gorgonia.Grad through its own ops and this package's) and through the
// hand-written forward/backward, and requires equal loss (1e-5 relative)
// and gradients (1e-4 absolute + 1e-3 relative).
func TestGraphMatchesKernels(t *testing.T) {
	a := arch{Layers: 2, DModel: 16, Heads: 2, Context: 12, Vocab: 40}
	bl := gonum.Implementation{}
	m := newModel(a, bl)
	rng := rand.New(rand.NewPCG(9, 9))
	initParams(a, m.p, rng)
	for i := range m.p.data {
		m.p.data[i] += float32(rng.NormFloat64() * 0.1)
	}
	B, T := 2, 10
	tokens := make([]int32, B*T)
	targets := make([]int32, B*T)
	mask := make([]float32, B*T)
	var rows, rowTargets []int32
	for i := range tokens {
		tokens[i] = int32(rng.IntN(a.Vocab))
		targets[i] = int32(rng.IntN(a.Vocab))
		if i%T >= 4 { // the first four positions of each row are "context"
			mask[i] = 1
			rows = append(rows, int32(i))
			rowTargets = append(rowTargets, targets[i])
		}
	}
	gm, err := buildGraph(a, bl, m.p, tokens, B, T, targets, mask)
	if err != nil {
		t.Fatal(err)
	}
	gLoss, gGrad, err := gm.run(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.forward(tokens, B, T, rows, nil); err != nil {
		t.Fatal(err)
	}
	lp, ent := make([]float32, len(rows)), make([]float32, len(rows))
	softmaxXent(m.a.logits, rowTargets, lp, ent, len(rows), a.Vocab)
	var loss float64
	g := make([]float32, len(rows))
	for i := range lp {
		loss -= float64(lp[i])
		g[i] = -1 / float32(len(rows))
	}
	loss /= float64(len(rows))
	if math.Abs(loss-float64(gLoss)) > 1e-5*math.Abs(loss) {
		t.Fatalf("loss: kernels %v, graph %v", loss, gLoss)
	}
	var norm float64
	for _, v := range gGrad {
		norm += float64(v) * float64(v)
	}
	if norm == 0 {
		t.Fatal("graph gradient is all zero")
	}
	xentBackward(m.a.logits, rowTargets, g, len(rows), a.Vocab)
	m.backward()
	for _, sp := range a.specs() {
		t.Run(sp.Name, func(t *testing.T) {
			for i := sp.off; i < sp.off+sp.size(); i++ {
				k, r := float64(m.g.data[i]), float64(gGrad[i])
				if math.Abs(k-r) > 1e-4+1e-3*math.Abs(r) {
					t.Fatalf("element %d: kernels %v, graph %v", i-sp.off, k, r)
				}
			}
		})
	}
}
