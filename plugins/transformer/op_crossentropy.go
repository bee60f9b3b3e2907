package transformer

import (
	"math"
)

// softmaxXent turns each row of logits [m, v] into probabilities in place and
// returns, per row, the log-probability of the target and the entropy.
// Working in place keeps the largest activation (m x vocab) to one buffer;
// float32 exponentials (expShiftMoment) and an entropy with one logarithm per
// row, not one per entry, cut its CPU time to a quarter (it was 16% of
// an SFT step with context_loss, where every position is a row).
func softmaxXent(probs []float32, targets []int32, logp, ent []float32, m, v int) {
	parallelFor(m, 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := probs[i*v : (i+1)*v]
			mx := row[0]
			for _, x := range row {
				mx = max(mx, x)
			}
			// log p_t = (x_t - mx) - log sum: exact for a target too unlikely
			// for its probability to be a float32.
			dt := row[targets[i]] - mx
			sum, moment := expShiftMoment(row, mx)
			lse := float32(math.Log(float64(sum)))
			logp[i] = dt - lse
			ent[i] = lse - moment/sum
			inv := 1 / sum
			for j := range row {
				row[j] *= inv
			}
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
