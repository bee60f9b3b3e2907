package transformer

import (
	"math"
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
			// tanh(u) = 1 - 2/(e^{2u}+1) with expf32 written out here: the
			// compiler will not inline it and this loop is the largest
			// elementwise cost of a step (u clamped where tanh is +-1 in float32).
			u := geluK * (v + 0.044715*v*v*v)
			if u > 9 { // plain comparisons: min/max on floats add NaN handling
				u = 9
			} else if u < -9 {
				u = -9
			}
			// Round 2u*log2(e) to the nearest integer k by adding 1.5*2^23:
			// the sum's low mantissa bits hold k, so no float<->int
			// conversions are needed; then e = 2^k e^r, |r| <= ln2/2.
			rk := 2*u*1.4426950408889634 + 12582912
			k := rk - 12582912
			r := 2*u - k*0.693145751953125 - k*1.428606765330187e-06
			scale := math.Float32frombits((math.Float32bits(rk) - 0x4B400000 + 127) << 23)
			e := (1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))) * scale
			t := 1 - 2/(e+1)
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
