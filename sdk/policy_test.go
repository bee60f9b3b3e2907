package sdk

import (
	"math"
	"testing"
)

// TestTokenLoss holds the objective to values worked out by hand.
func TestTokenLoss(t *testing.T) {
	ln := math.Log
	tests := []struct {
		name    string
		batch   PolicyBatch
		ex      PolicyExample
		logp    float64
		loss, d float64
		clipped bool
		kl      float64
	}{
		// r = 0.5/0.4 = 1.25 > 1.2 with A > 0: the clipped branch, -1.2 A.
		{"clipped above", PolicyBatch{ClipEps: 0.2}, PolicyExample{Advantage: 1, OldLogprobs: []float64{ln(0.4)}}, ln(0.5), -1.2, 0, true, 0},
		// r = 0.55/0.5 = 1.1 inside the range: -r A, gradient -r A.
		{"inside the range", PolicyBatch{ClipEps: 0.2}, PolicyExample{Advantage: 2, OldLogprobs: []float64{ln(0.5)}}, ln(0.55), -2.2, -2.2, false, 0},
		// r = 0.7 < 0.8 with A < 0: clipped, -(0.8 A) = 0.8.
		{"clipped below", PolicyBatch{ClipEps: 0.2}, PolicyExample{Advantage: -1, OldLogprobs: []float64{ln(0.5)}}, ln(0.35), 0.8, 0, true, 0},
		// r = 1.5 with A < 0: min(-1.5, -1.2) = -1.5 is the unclipped branch.
		{"negative advantage, large ratio", PolicyBatch{ClipEps: 0.2}, PolicyExample{Advantage: -1, OldLogprobs: []float64{ln(0.2)}}, ln(0.3), 1.5, 1.5, false, 0},
		// No clipping at all: -r A.
		{"ClipEps 0", PolicyBatch{}, PolicyExample{Advantage: 1, OldLogprobs: []float64{ln(0.4)}}, ln(0.5), -1.25, -1.25, false, 0},
		// No old log-probs: r = 1, the plain policy gradient -A.
		{"no old log-probs", PolicyBatch{ClipEps: 0.2}, PolicyExample{Advantage: 0.5}, ln(0.5), -0.5, -0.5, false, 0},
		// ref/p = 0.5: k3 = 0.5 - ln 0.5 - 1 = 0.193147, dk3/dlogp = 1 - 0.5.
		{"KL only", PolicyBatch{ClipEps: 0.2, KLCoef: 0.1}, PolicyExample{RefLogprobs: []float64{ln(0.25)}}, ln(0.5), 0.1 * (0.5 - ln(0.5) - 1), 0.1 * 0.5, false, 0.5 - ln(0.5) - 1},
		// Clipped surrogate plus KL: the KL gradient alone remains.
		{"clipped with KL", PolicyBatch{ClipEps: 0.2, KLCoef: 0.1}, PolicyExample{Advantage: 1, OldLogprobs: []float64{ln(0.4)}, RefLogprobs: []float64{ln(0.25)}}, ln(0.5),
			-1.2 + 0.1*(0.5-ln(0.5)-1), 0.1 * 0.5, true, 0.5 - ln(0.5) - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.batch.TokenLoss(tc.ex, 0, tc.logp)
			if math.Abs(got.Loss-tc.loss) > 1e-12 || math.Abs(got.DLogprob-tc.d) > 1e-12 || got.Clipped != tc.clipped || math.Abs(got.KL-tc.kl) > 1e-12 {
				t.Errorf("got %+v, want loss %v dlogp %v clipped %v kl %v", got, tc.loss, tc.d, tc.clipped, tc.kl)
			}
			// DLogprob is the derivative of Loss (away from the clip edges).
			// Without old log-probs the ratio's denominator is logp itself,
			// held fixed (a stop-gradient), which a finite difference
			// would move too.
			if len(tc.ex.OldLogprobs) == 0 {
				return
			}
			const h = 1e-6
			fd := (tc.batch.TokenLoss(tc.ex, 0, tc.logp+h).Loss - tc.batch.TokenLoss(tc.ex, 0, tc.logp-h).Loss) / (2 * h)
			if math.Abs(fd-got.DLogprob) > 1e-6 {
				t.Errorf("DLogprob %v, finite difference %v", got.DLogprob, fd)
			}
		})
	}
}
