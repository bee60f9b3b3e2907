package sdk

import "math"

// TokenLoss is one completion token's share of the policy-gradient
// objective of a PolicyBatch, and its derivative with respect to the
// token's log-probability, which is all a trainable model plugin needs to
// backpropagate: the gradient of the loss reaches the logits through that
// one number per token. Every plugin calls PolicyBatch.TokenLoss, so the
// objective is written once, here, whatever the network.
type TokenLoss struct {
	// Loss is -min(r A, clip(r, 1-eps, 1+eps) A) + KLCoef k3, with the
	// ratio r = exp(logp - old) and k3 = exp(ref-logp) - (ref-logp) - 1,
	// the k3 estimator of KL(policy || reference) (Schulman, 2020).
	Loss float64
	// DLogprob is dLoss/dlogp.
	DLogprob float64
	// Clipped reports that the clipped branch of the surrogate is active,
	// so the surrogate passes no gradient (only the KL term does).
	Clipped bool
	// KL is k3 at this token; 0 when the example has no reference.
	KL float64
}

// TokenLoss returns token j of example e's share of the objective when the
// model being trained gives it log-probability logp. An example without
// OldLogprobs uses logp itself (r = 1: a plain policy gradient step); one
// without RefLogprobs has no KL term; ClipEps 0 turns clipping off. A
// plugin sums Loss over the batch's completion tokens and divides by their
// number, as TrainStats.Loss reports it.
func (b PolicyBatch) TokenLoss(e PolicyExample, j int, logp float64) TokenLoss {
	old := logp
	if len(e.OldLogprobs) > 0 {
		old = e.OldLogprobs[j]
	}
	A := e.Advantage
	r := math.Exp(logp - old)
	var t TokenLoss
	surrogate := r * A
	if eps := b.ClipEps; eps > 0 {
		surrogate = math.Min(surrogate, math.Max(1-eps, math.Min(1+eps, r))*A)
		t.Clipped = (A >= 0 && r > 1+eps) || (A < 0 && r < 1-eps)
	}
	if !t.Clipped {
		t.DLogprob = -A * r
	}
	t.Loss = -surrogate
	if len(e.RefLogprobs) > 0 {
		x := e.RefLogprobs[j] - logp
		t.KL = math.Exp(x) - x - 1
		t.Loss += b.KLCoef * t.KL
		t.DLogprob += b.KLCoef * (1 - math.Exp(x))
	}
	return t
}
