package transformer

import (
	"math"
	"runtime"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

const lnEps = 1e-5

// layerNormForward normalises each row of x [n, c] and applies gain g and
// bias b [c]; it keeps each row's mean and 1/std for the backward pass.
func layerNormForward(y, mean, rstd, x, g, b []float32, n, c int) {
	parallelFor(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xi := x[i*c : (i+1)*c]
			var m float32
			for _, v := range xi {
				m += v
			}
			m /= float32(c)
			var vr float32
			for _, v := range xi {
				d := v - m
				vr += d * d
			}
			vr /= float32(c)
			r := float32(1 / math.Sqrt(float64(vr)+lnEps))
			yi := y[i*c : (i+1)*c]
			for j, v := range xi {
				yi[j] = (v-m)*r*g[j] + b[j]
			}
			mean[i], rstd[i] = m, r
		}
	})
}

// layerNormBackward adds to dx [n, c], dg and db [c] the gradients given dy.
// Each worker sums its own dg/db partials so rows can run in parallel.
func layerNormBackward(dx, dg, db, dy, x, mean, rstd, g []float32, n, c int) {
	parts := make(chan []float32, runtime.GOMAXPROCS(0)+1) // one per worker, so none blocks
	parallelFor(n, 16, func(lo, hi int) {
		p := make([]float32, 2*c) // dg then db
		for i := lo; i < hi; i++ {
			xi, dyi, dxi := x[i*c:(i+1)*c], dy[i*c:(i+1)*c], dx[i*c:(i+1)*c]
			m, r := mean[i], rstd[i]
			var sumD, sumDN float32
			for j := range xi {
				norm := (xi[j] - m) * r
				d := dyi[j] * g[j]
				sumD += d
				sumDN += d * norm
				p[j] += dyi[j] * norm
				p[c+j] += dyi[j]
			}
			sumD /= float32(c)
			sumDN /= float32(c)
			for j := range xi {
				norm := (xi[j] - m) * r
				dxi[j] += (dyi[j]*g[j] - sumD - norm*sumDN) * r
			}
		}
		parts <- p
	})
	close(parts)
	for p := range parts {
		for j := 0; j < c; j++ {
			dg[j] += p[j]
			db[j] += p[c+j]
		}
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
