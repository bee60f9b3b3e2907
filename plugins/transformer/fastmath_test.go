package transformer

import (
	"math"
	"testing"
)

// TestFastMath compares expf32 and tanhf32 with the float64 library on a
// grid: relative error below 1e-6 for exp, absolute below 1e-6 for tanh.
func TestFastMath(t *testing.T) {
	tests := []struct {
		name string
		f    func(float32) float32
		ref  func(float64) float64
		rel  bool
	}{
		{"exp", expf32, math.Exp, true},
		{"tanh", tanhf32, math.Tanh, false},
	}
	tests = append(tests, struct {
		name string
		f    func(float32) float32
		ref  func(float64) float64
		rel  bool
	}{"expShift", func(x float32) float32 {
		if x > 0 {
			x = -x
		}
		v := []float32{x}
		expShift(v, 0)
		return v[0]
	}, func(x float64) float64 {
		if math.Abs(x) > 60 {
			return 0 // flushed: see expShiftMoment
		}
		return math.Exp(-math.Abs(x))
	}, true})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for x := -80.0; x <= 80; x += 0.0137 {
				got, want := float64(tc.f(float32(x))), tc.ref(float64(float32(x)))
				err := math.Abs(got - want)
				if tc.rel && want == 0 {
					err = got
				} else if tc.rel {
					err /= want
				}
				if err > 1e-6 {
					t.Fatalf("%s(%v) = %v, want %v", tc.name, x, got, want)
				}
			}
		})
	}
}

// TestExpShiftNoSubnormals: a softmax row whose entries spread far below
// its maximum normalises to probabilities that are 0 or normal float32s,
// never subnormal (which cost a microcode assist in every product that
// reads them), and their sum is still 1.
func TestExpShiftNoSubnormals(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		spread float32 // the row runs from 0 down to -spread
	}{
		{"vocab row", 1024, 200},
		{"attention row", 1024, 90},
		{"narrow", 64, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := make([]float32, tt.n)
			for j := range row {
				row[j] = -tt.spread * float32(j) / float32(tt.n-1)
			}
			inv := 1 / expShift(row, 0)
			var sum float64
			for j, e := range row {
				p := e * inv
				if p != 0 && p < math.SmallestNonzeroFloat32*(1<<23) {
					t.Fatalf("entry %d: probability %g is subnormal", j, p)
				}
				sum += float64(p)
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("probabilities sum to %g", sum)
			}
		})
	}
}
