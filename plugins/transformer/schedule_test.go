package transformer

import (
	"math"
	"testing"
)

func TestLearningRateSchedule(t *testing.T) {
	h := hyper{LR: 1e-3, MinLRFrac: 0.1, Warmup: 10}
	tests := []struct {
		name        string
		peak        float64
		step, total int
		want        float64
	}{
		{"warmup start", 0, 0, 100, 1e-4},
		{"warmup end is the peak", 0, 9, 100, 1e-3},
		{"cosine ends at the floor", 0, 100, 100, 1e-4},
		{"batch peak replaces the configured one", 2e-4, 9, 100, 2e-4},
		{"batch peak sets the floor too", 2e-4, 100, 100, 2e-5},
		{"zero keeps the configured peak", 0, 9, 100, 1e-3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.withPeak(tt.peak).lrAt(tt.step, tt.total); math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("lr = %g, want %g", got, tt.want)
			}
		})
	}
}
