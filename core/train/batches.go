package train

import "math/rand/v2"

// BatchIndices returns the example indices of optimizer step `step`
// (0-based) when n examples are shuffled once per epoch with seed. It
// depends only on its arguments, so a resumed run draws the same batches as
// an uninterrupted one without storing any order.
func BatchIndices(n, batch, step int, seed int64) []int {
	if n == 0 || batch <= 0 {
		return nil
	}
	out := make([]int, 0, batch)
	pos := step * batch
	for len(out) < batch {
		epoch, off := pos/n, pos%n
		perm := epochPermutation(n, epoch, seed)
		for ; off < n && len(out) < batch; off++ {
			out = append(out, perm[off])
			pos++
		}
	}
	return out
}

func epochPermutation(n, epoch int, seed int64) []int {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)+0x9e3779b97f4a7c15))
	return r.Perm(n)
}
