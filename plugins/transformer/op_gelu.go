package transformer

import (
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// geluK is sqrt(2/pi) for the tanh approximation of GELU used by GPT-2.
var geluK = float32(math.Sqrt(2 / math.Pi))

func tanh32(x float32) float32 { return tanhf32(x) }

// geluForward computes y = 0.5 x (1 + tanh(k (x + 0.044715 x^3))). When th
// is not nil it keeps the tanh values so the backward need not recompute
// them (tanh was the largest elementwise cost of a training step).
func geluForward(y, th, x []float32) {
	parallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			t := tanh32(geluK * (v + 0.044715*v*v*v))
			y[i] = 0.5 * v * (1 + t)
			if th != nil {
				th[i] = t
			}
		}
	})
}

// geluBackward adds dy * gelu'(x) to dx; th is the forward's tanh or nil.
func geluBackward(dx, x, th, dy []float32) {
	parallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := x[i]
			var t float32
			if th != nil {
				t = th[i]
			} else {
				t = tanh32(geluK * (v + 0.044715*v*v*v))
			}
			sech2 := 1 - t*t
			d := 0.5*(1+t) + 0.5*v*sech2*geluK*(1+3*0.044715*v*v)
			dx[i] += d * dy[i]
		}
	})
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
