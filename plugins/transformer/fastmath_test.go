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
	}, func(x float64) float64 { return math.Exp(-math.Abs(x)) }, true})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for x := -80.0; x <= 80; x += 0.0137 {
				got, want := float64(tc.f(float32(x))), tc.ref(float64(float32(x)))
				err := math.Abs(got - want)
				if tc.rel {
					err /= want
				}
				if err > 1e-6 {
					t.Fatalf("%s(%v) = %v, want %v", tc.name, x, got, want)
				}
			}
		})
	}
}
