package transformer

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softmaxXent turns each row of logits [m, v] into probabilities in place and
// returns, per row, the log-probability of the target and the entropy.
// Working in place keeps the largest activation (m x vocab) to one buffer.
func softmaxXent(probs []float32, targets []int32, logp, ent []float32, m, v int) {
	parallelFor(m, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := probs[i*v : (i+1)*v]
			mx := row[0]
			for _, x := range row {
				mx = max(mx, x)
			}
			var sum float64
			for j, x := range row {
				e := math.Exp(float64(x - mx))
				row[j] = float32(e)
				sum += e
			}
			t := targets[i]
			logp[i] = float32(math.Log(float64(row[t]) / sum))
			inv := float32(1 / sum)
			var h float64
			for j := range row {
				row[j] *= inv
				if p := float64(row[j]); p > 0 {
					h -= p * math.Log(p)
				}
			}
			ent[i] = float32(h)
		}
	})
}

// xentBackward overwrites probs [m, v] with dL/dlogits = g (onehot - p),
// where g[i] = dL/dlogp[i]: cross-entropy uses g = -weight, policy
// gradients pass their own per-token coefficient. A row with g = 0 (a
// masked position) gets an exactly zero gradient.
func xentBackward(probs []float32, targets []int32, g []float32, m, v int) {
	parallelFor(m, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := probs[i*v : (i+1)*v]
			gi := g[i]
			for j := range row {
				row[j] *= -gi
			}
			row[targets[i]] += gi
		}
	})
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
