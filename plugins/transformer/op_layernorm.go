package transformer

import (
	"math"
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
// Each worker sums its own dg/db partials so rows can run in parallel; the
// partials are added in row order, not in the order workers finish, so a
// training run is bit-for-bit the same for a given seed (float addition is
// not associative, and a last-bit difference grows into a different model).
func layerNormBackward(dx, dg, db, dy, x, mean, rstd, g []float32, n, c int) {
	parts := make([][]float32, n) // parts[lo]: the partials of the chunk starting at row lo
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
		parts[lo] = p
	})
	for _, p := range parts {
		if p == nil {
			continue
		}
		for j := 0; j < c; j++ {
			dg[j] += p[j]
			db[j] += p[c+j]
		}
	}
}
