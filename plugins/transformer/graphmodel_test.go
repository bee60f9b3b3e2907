package transformer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphModel is the same network as model.go written as a gorgonia
// expression graph: gorgonia's matmul, transpose, broadcast and add nodes
// around this package's custom ops, differentiated by gorgonia.Grad. It is
// far slower than the hand-written path (every node allocates, broadcasts
// copy) and serves as its reference: TestGraphMatchesKernels requires both
// to give the same loss and gradients.
type graphModel struct {
	g      *G.ExprGraph
	cost   *G.Node
	params []*G.Node // in specs() order
}

// buildGraph builds the masked mean cross-entropy of tokens [B,T] whose
// position i predicts targets[i] where mask[i] = 1, over copies of p.
func buildGraph(a arch, bl G.BLAS, p *params, tokens []int32, B, T int, targets []int32, mask []float32) (*graphModel, error) {
	C, V, N := a.DModel, a.Vocab, B*T
	gm := &graphModel{g: G.NewGraph()}
	g := gm.g
	specs := a.specs()
	for _, sp := range specs {
		val := tensor.New(tensor.WithShape(sp.Shape...), tensor.WithBacking(append([]float32(nil), p.data[sp.off:sp.off+sp.size()]...)))
		gm.params = append(gm.params, G.NodeFromAny(g, val, G.WithName(sp.Name)))
	}
	idx := 0
	next := func() *G.Node { n := gm.params[idx]; idx++; return n }
	var err error
	must := func(n *G.Node, e error) *G.Node {
		if e != nil && err == nil {
			err = e
		}
		return n
	}
	// linear is x [n, in] w[out, in]^T + b (b broadcast over rows).
	linear := func(x, w, b *G.Node) *G.Node {
		y := must(G.Mul(x, must(G.Transpose(w))))
		if b == nil {
			return y
		}
		return must(G.BroadcastAdd(y, b, nil, []byte{0}))
	}
	// Embeddings: one-hot [N,V] x wte [V,C] plus the positions' rows of wpe.
	onehot := tensor.New(tensor.WithShape(N, V), tensor.Of(tensor.Float32))
	posHot := tensor.New(tensor.WithShape(N, a.Context), tensor.Of(tensor.Float32))
	for i, tok := range tokens {
		onehot.Data().([]float32)[i*V+int(tok)] = 1
		posHot.Data().([]float32)[i*a.Context+i%T] = 1
	}
	wte, wpe := next(), next()
	x := must(G.Add(
		must(G.Mul(G.NodeFromAny(g, onehot, G.WithName("onehot")), wte)),
		must(G.Mul(G.NodeFromAny(g, posHot, G.WithName("poshot")), wpe))))
	for range a.Layers {
		ln1g, ln1b, qkvw, qkvb, projw, projb := next(), next(), next(), next(), next(), next()
		ln2g, ln2b, fcw, fcb, fcprojw, fcprojb := next(), next(), next(), next(), next(), next()
		h := must(G.ApplyOp(layerNormOp(), x, ln1g, ln1b))
		qkv := must(G.Reshape(linear(h, qkvw, qkvb), tensor.Shape{B, T, 3 * C})) // [N,3C] -> [B,T,3C]
		att := must(G.ApplyOp(causalAttentionOp(bl, a.Heads), qkv))
		att = must(G.Reshape(att, tensor.Shape{N, C})) // [B,T,C] -> [N,C]
		x = must(G.Add(x, linear(att, projw, projb)))
		h = must(G.ApplyOp(layerNormOp(), x, ln2g, ln2b))
		h = must(G.ApplyOp(geluOp(), linear(h, fcw, fcb)))
		x = must(G.Add(x, linear(h, fcprojw, fcprojb)))
	}
	lnfg, lnfb := next(), next()
	x = must(G.ApplyOp(layerNormOp(), x, lnfg, lnfb))
	logits := linear(x, wte, nil) // tied head: [N,C] x [V,C]^T
	tg := tensor.New(tensor.WithShape(N), tensor.Of(tensor.Float32))
	for i, t := range targets {
		tg.Data().([]float32)[i] = float32(t)
	}
	mk := tensor.New(tensor.WithShape(N), tensor.WithBacking(append([]float32(nil), mask...)))
	gm.cost = must(G.ApplyOp(maskedCrossEntropyOp(), logits, G.NodeFromAny(g, tg, G.WithName("targets")), G.NodeFromAny(g, mk, G.WithName("mask"))))
	if err != nil {
		return nil, fmt.Errorf("transformer: build graph: %w", err)
	}
	if _, err := G.Grad(gm.cost, gm.params...); err != nil {
		return nil, fmt.Errorf("transformer: graph gradient: %w", err)
	}
	return gm, nil
}

// run evaluates the graph and returns the loss and the gradient slab.
func (gm *graphModel) run(a arch) (float32, []float32, error) {
	vm := G.NewTapeMachine(gm.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return 0, nil, fmt.Errorf("transformer: run graph: %w", err)
	}
	grad := make([]float32, a.numParams())
	for i, sp := range a.specs() {
		gv, err := gm.params[i].Grad()
		if err != nil {
			return 0, nil, fmt.Errorf("transformer: gradient of %s: %w", sp.Name, err)
		}
		copy(grad[sp.off:], f32(gv))
	}
	return f32(gm.cost.Value())[0], grad, nil
}
