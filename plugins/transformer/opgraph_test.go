package transformer

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernelOp adapts one of this package's float32 kernels to gorgonia's Op
// and SDOp interfaces, so each kernel can sit in an ExprGraph and be
// differentiated by gorgonia.Grad. The training loop calls the same kernels
// directly (an llm.c-style explicit forward/backward), which avoids
// gorgonia's per-node allocations and broadcast copies on the hot path; the
// graph form is what the finite-difference tests drive.
type kernelOp struct {
	name string
	// in gives each input's rank; out is the output's rank (0 = scalar).
	in  []int
	out int
	// wrt marks the inputs that have a gradient.
	wrt   []bool
	shape func(in []tensor.Shape) (tensor.Shape, error)
	do    func(in []*tensor.Dense) (G.Value, error)
	// grad computes d(output)/d(input i) contracted with dout, given the
	// inputs, the op's output and the incoming gradient.
	grad func(i int, in []*tensor.Dense, out G.Value, dout G.Value) (*tensor.Dense, error)
}

func (op *kernelOp) Arity() int { return len(op.in) }

func (op *kernelOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.in)+1)
	for _, d := range op.in {
		ts = append(ts, G.TensorType{Dims: d, Of: G.Float32})
	}
	if op.out == 0 {
		ts = append(ts, G.Float32)
	} else {
		ts = append(ts, G.TensorType{Dims: op.out, Of: G.Float32})
	}
	return hm.NewFnType(ts...)
}

func (op *kernelOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(ds))
	for i, d := range ds {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("transformer: op %s input %d has no shape", op.name, i)
		}
		shapes[i] = s
	}
	return op.shape(shapes)
}

func (op *kernelOp) Do(vals ...G.Value) (G.Value, error) {
	in, err := op.dense(vals)
	if err != nil {
		return nil, err
	}
	return op.do(in)
}

func (op *kernelOp) dense(vals []G.Value) ([]*tensor.Dense, error) {
	if len(vals) != len(op.in) {
		return nil, fmt.Errorf("transformer: op %s wants %d inputs, got %d", op.name, len(op.in), len(vals))
	}
	in := make([]*tensor.Dense, len(vals))
	for i, v := range vals {
		d, ok := v.(*tensor.Dense)
		if !ok || d.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("transformer: op %s input %d must be a float32 tensor, got %T", op.name, i, v)
		}
		in[i] = d
	}
	return in, nil
}

func (op *kernelOp) ReturnsPtr() bool      { return false }
func (op *kernelOp) CallsExtern() bool     { return false }
func (op *kernelOp) OverwritesInput() int  { return -1 }
func (op *kernelOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.name) }
func (op *kernelOp) String() string        { return op.name }
func (op *kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *kernelOp) DiffWRT(n int) []bool { return op.wrt }

// SymDiff returns one gradient node per input (nil for inputs without one),
// each computed by a kernelGradOp that runs the backward kernel.
func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for i := range inputs {
		if !op.wrt[i] {
			continue
		}
		args := append(append(G.Nodes{}, inputs...), output, grad)
		n, err := G.ApplyOp(&kernelGradOp{op, i}, args...)
		if err != nil {
			return nil, fmt.Errorf("transformer: gradient of %s: %w", op.name, err)
		}
		out[i] = n
	}
	return out, nil
}

// kernelGradOp is the backward of a kernelOp with respect to input i; its
// inputs are the forward's inputs, its output and the output's gradient.
type kernelGradOp struct {
	fwd *kernelOp
	i   int
}

func (op *kernelGradOp) Arity() int { return len(op.fwd.in) + 2 }

func (op *kernelGradOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.fwd.in)+3)
	for _, d := range op.fwd.in {
		ts = append(ts, G.TensorType{Dims: d, Of: G.Float32})
	}
	var o hm.Type = G.Float32
	if op.fwd.out > 0 {
		o = G.TensorType{Dims: op.fwd.out, Of: G.Float32}
	}
	ts = append(ts, o, o, G.TensorType{Dims: op.fwd.in[op.i], Of: G.Float32})
	return hm.NewFnType(ts...)
}

func (op *kernelGradOp) InferShape(ds ...G.DimSizer) (tensor.Shape, error) {
	s, ok := ds[op.i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("transformer: op %s input %d has no shape", op, op.i)
	}
	return s.Clone(), nil
}

func (op *kernelGradOp) Do(vals ...G.Value) (G.Value, error) {
	n := len(op.fwd.in)
	if len(vals) != n+2 {
		return nil, fmt.Errorf("transformer: op %s wants %d inputs, got %d", op, n+2, len(vals))
	}
	in, err := op.fwd.dense(vals[:n])
	if err != nil {
		return nil, err
	}
	return op.fwd.grad(op.i, in, vals[n], vals[n+1])
}

func (op *kernelGradOp) ReturnsPtr() bool      { return false }
func (op *kernelGradOp) CallsExtern() bool     { return false }
func (op *kernelGradOp) OverwritesInput() int  { return -1 }
func (op *kernelGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "d%s/d%d", op.fwd.name, op.i) }
func (op *kernelGradOp) String() string        { return fmt.Sprintf("d%s/d%d", op.fwd.name, op.i) }
func (op *kernelGradOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// f32 returns the float32 backing of a dense tensor or scalar value.
func f32(v G.Value) []float32 {
	switch x := v.(type) {
	case *tensor.Dense:
		return x.Data().([]float32)
	case *G.F32:
		return []float32{float32(*x)}
	}
	return nil
}

func newDense(s tensor.Shape) *tensor.Dense {
	return tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
}

func shapeErr(op string, want string, got []tensor.Shape) error {
	return fmt.Errorf("transformer: op %s wants shapes %s, got %v", op, want, got)
}

// causalAttentionOp is attentionForward as a gorgonia op on qkv [B, T, 3C].
func causalAttentionOp(bl blas.Float32, heads int) *kernelOp {
	dims := func(s tensor.Shape) (int, int, int, error) {
		if len(s) != 3 || s[2]%3 != 0 || (s[2]/3)%heads != 0 {
			return 0, 0, 0, fmt.Errorf("transformer: op CausalAttention wants qkv [B,T,3C] with C divisible by %d heads, got %v", heads, s)
		}
		return s[0], s[1], s[2] / 3, nil
	}
	return &kernelOp{
		name: fmt.Sprintf("CausalAttention{%d}", heads), in: []int{3}, out: 3, wrt: []bool{true},
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			B, T, C, err := dims(s[0])
			if err != nil {
				return nil, err
			}
			return tensor.Shape{B, T, C}, nil
		},
		do: func(in []*tensor.Dense) (G.Value, error) {
			B, T, C, err := dims(in[0].Shape())
			if err != nil {
				return nil, err
			}
			y := newDense(tensor.Shape{B, T, C})
			attentionForward(bl, f32(y), make([]float32, B*heads*T*T), f32(in[0]), B, T, C, heads)
			return y, nil
		},
		grad: func(_ int, in []*tensor.Dense, _ G.Value, dout G.Value) (*tensor.Dense, error) {
			B, T, C, err := dims(in[0].Shape())
			if err != nil {
				return nil, err
			}
			att := make([]float32, B*heads*T*T)
			attentionForward(bl, make([]float32, B*T*C), att, f32(in[0]), B, T, C, heads)
			d := newDense(in[0].Shape().Clone())
			attentionBackward(bl, f32(d), f32(dout), att, f32(in[0]), B, T, C, heads)
			return d, nil
		},
	}
}

// geluOp is elementwise GELU as a gorgonia op on a matrix.
func geluOp() *kernelOp {
	return &kernelOp{
		name: "GELU", in: []int{2}, out: 2, wrt: []bool{true},
		shape: func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), nil },
		do: func(in []*tensor.Dense) (G.Value, error) {
			y := newDense(in[0].Shape().Clone())
			geluForward(f32(y), nil, f32(in[0]))
			return y, nil
		},
		grad: func(_ int, in []*tensor.Dense, _ G.Value, dout G.Value) (*tensor.Dense, error) {
			dx := newDense(in[0].Shape().Clone())
			geluBackward(f32(dx), f32(in[0]), nil, f32(dout))
			return dx, nil
		},
	}
}

// layerNormOp is LayerNorm(x [n, c], g [c], b [c]) as a gorgonia op.
func layerNormOp() *kernelOp {
	return &kernelOp{
		name: "LayerNorm", in: []int{2, 1, 1}, out: 2, wrt: []bool{true, true, true},
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if len(s) != 3 || len(s[0]) != 2 || s[1].TotalSize() != s[0][1] || s[2].TotalSize() != s[0][1] {
				return nil, shapeErr("LayerNorm", "x [n,c], g [c], b [c]", s)
			}
			return s[0].Clone(), nil
		},
		do: func(in []*tensor.Dense) (G.Value, error) {
			n, c := in[0].Shape()[0], in[0].Shape()[1]
			y := newDense(in[0].Shape().Clone())
			layerNormForward(f32(y), make([]float32, n), make([]float32, n), f32(in[0]), f32(in[1]), f32(in[2]), n, c)
			return y, nil
		},
		grad: func(i int, in []*tensor.Dense, _ G.Value, dout G.Value) (*tensor.Dense, error) {
			n, c := in[0].Shape()[0], in[0].Shape()[1]
			mean, rstd := make([]float32, n), make([]float32, n)
			layerNormForward(make([]float32, n*c), mean, rstd, f32(in[0]), f32(in[1]), f32(in[2]), n, c)
			dx, dg, db := make([]float32, n*c), make([]float32, c), make([]float32, c)
			layerNormBackward(dx, dg, db, f32(dout), f32(in[0]), mean, rstd, f32(in[1]), n, c)
			out := [][]float32{dx, dg, db}[i]
			return tensor.New(tensor.WithShape(in[i].Shape().Clone()...), tensor.WithBacking(out)), nil
		},
	}
}

// maskedCrossEntropyOp is mean over unmasked rows of -log softmax(logits)[target]
// as a gorgonia op: inputs logits [n, v], targets [n] (ids stored as floats)
// and mask [n] (1 = counts, 0 = ignored); the output is a scalar.
func maskedCrossEntropyOp() *kernelOp {
	prep := func(in []*tensor.Dense) (probs []float32, tg []int32, mask []float32, n, v int, err error) {
		n, v = in[0].Shape()[0], in[0].Shape()[1]
		probs = append([]float32(nil), f32(in[0])...)
		tg = make([]int32, n)
		for i, t := range f32(in[1]) {
			if t < 0 || int(t) >= v {
				return nil, nil, nil, 0, 0, fmt.Errorf("transformer: op MaskedCrossEntropy target %d at row %d outside vocab %d", int(t), i, v)
			}
			tg[i] = int32(t)
		}
		return probs, tg, f32(in[2]), n, v, nil
	}
	count := func(mask []float32) float32 {
		var c float32
		for _, m := range mask {
			c += m
		}
		return max(c, 1)
	}
	return &kernelOp{
		name: "MaskedCrossEntropy", in: []int{2, 1, 1}, out: 0, wrt: []bool{true, false, false},
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if len(s[0]) != 2 || s[1].TotalSize() != s[0][0] || s[2].TotalSize() != s[0][0] {
				return nil, shapeErr("MaskedCrossEntropy", "logits [n,v], targets [n], mask [n]", s)
			}
			return tensor.ScalarShape(), nil
		},
		do: func(in []*tensor.Dense) (G.Value, error) {
			probs, tg, mask, n, v, err := prep(in)
			if err != nil {
				return nil, err
			}
			logp, ent := make([]float32, n), make([]float32, n)
			softmaxXent(probs, tg, logp, ent, n, v)
			var loss float32
			for i := range logp {
				loss -= mask[i] * logp[i]
			}
			return G.NewF32(loss / count(mask)), nil
		},
		grad: func(_ int, in []*tensor.Dense, _ G.Value, dout G.Value) (*tensor.Dense, error) {
			probs, tg, mask, n, v, err := prep(in)
			if err != nil {
				return nil, err
			}
			softmaxXent(probs, tg, make([]float32, n), make([]float32, n), n, v)
			g := make([]float32, n)
			c, d := count(mask), f32(dout)[0]
			for i := range g {
				g[i] = -mask[i] / c * d
			}
			xentBackward(probs, tg, g, n, v)
			return tensor.New(tensor.WithShape(n, v), tensor.WithBacking(probs)), nil
		},
	}
}
