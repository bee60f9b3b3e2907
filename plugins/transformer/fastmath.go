package transformer

import "math"

// expf32 is e^x in float32 to about 2 ulp, several times faster than
// math.Exp in float64: softmax over attention rows calls it B*H*T*T/2 times
// per layer, where it showed up as the largest non-BLAS cost. Range
// reduction x = k ln2 + r, |r| <= ln2/2, then a degree-6 Taylor polynomial
// for e^r and 2^k assembled in the exponent bits.
func expf32(x float32) float32 {
	if x < -87.3 {
		return 0
	}
	if x > 88.7 {
		return float32(math.Inf(1))
	}
	const ln2hi, ln2lo, log2e = 0.693145751953125, 1.428606765330187e-06, 1.4426950408889634
	// round to nearest by truncating t ± 0.5 (int conversion truncates toward 0)
	t := x * log2e
	if t >= 0 {
		t += 0.5
	} else {
		t -= 0.5
	}
	k := float32(int32(t))
	r := x - k*ln2hi - k*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(k)+127)<<23)
}

// tanhf32 is tanh through expf32: 1 - 2/(e^{2x}+1), odd-symmetric.
func tanhf32(x float32) float32 {
	if x > 9 {
		return 1
	}
	if x < -9 {
		return -1
	}
	return 1 - 2/(expf32(2*x)+1)
}

// expShift sets x[j] = e^(x[j]-mx) for every j and returns the sum; with mx
// the row's maximum every exponent is <= 0.
func expShift(x []float32, mx float32) float32 {
	sum, _ := expShiftMoment(x, mx)
	return sum
}

// expShiftMoment is expShift that also returns sum_j e^(x[j]-mx)·(x[j]-mx),
// from which a softmax row's entropy follows without a logarithm per entry:
// H = log(sum) - moment/sum. It is expf32 applied to a whole row, with the
// body written out since the compiler will not inline expf32 into the loop.
//
// Entries more than 60 below the maximum become 0 rather than e^d: their
// share of the row, and what later products scale it by, falls into
// float32's subnormal range, where each multiply that reads one costs a
// microcode assist on x86, and a model that grows confident has more of
// them every step. e^-60 is 1e-26 of the row's largest entry, far below
// float32 resolution.
func expShiftMoment(x []float32, mx float32) (sum, moment float32) {
	for j, v := range x {
		d := v - mx
		if d < -60 {
			x[j] = 0
			continue
		}
		z := d*1.4426950408889634 - 0.5 // d <= 0: round to nearest
		k := float32(int32(z))
		r := d - k*0.693145751953125 - k*1.428606765330187e-06
		e := (1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))) * math.Float32frombits(uint32(int32(k)+127)<<23)
		x[j] = e
		sum += e
		moment += e * d
	}
	return sum, moment
}
