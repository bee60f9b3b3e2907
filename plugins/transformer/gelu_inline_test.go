package transformer

import (
	"math"
	"testing"
)

// TestGELUForwardMatchesReference checks the hand-inlined tanh in
// geluForward against float64 math to 1e-6 absolute.
func TestGELUForwardMatchesReference(t *testing.T) {
	var x []float32
	for v := -12.0; v <= 12; v += 0.00731 {
		x = append(x, float32(v))
	}
	y, th := make([]float32, len(x)), make([]float32, len(x))
	geluForward(y, th, x)
	for i, v := range x {
		u := math.Sqrt(2/math.Pi) * (float64(v) + 0.044715*math.Pow(float64(v), 3))
		want := 0.5 * float64(v) * (1 + math.Tanh(u))
		if d := math.Abs(float64(y[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("gelu(%v) = %v, want %v", v, y[i], want)
		}
		if d := math.Abs(float64(th[i]) - math.Tanh(u)); d > 1e-6 {
			t.Fatalf("tanh at %v = %v, want %v", v, th[i], math.Tanh(u))
		}
	}
}
