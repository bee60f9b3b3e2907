package transformer

import (
	"math"
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
