package transformer

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
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
