package transformer

import "math"

// Rotary position embeddings (Su et al., RoFormer): the query and key of
// each head are rotated by an angle that grows with the position, pair of
// dimensions (j, j+hs/2) by pos * ropeBase^(-2j/hs), so their dot product
// depends on how far apart two tokens are, not where they are. A head that
// attends "one token back" or "to the token after an earlier copy of this
// one" (the two halves of an induction head, which copying text from the
// context needs) is then one pattern for every position, learned once,
// instead of a pattern per absolute position.

const ropeBase = 10000

// ropeTable holds cos and sin of every (position, pair) angle.
type ropeTable struct {
	half     int // pairs per head: hs/2
	cos, sin []float32
}

func newRopeTable(context, hs int) *ropeTable {
	half := hs / 2
	t := &ropeTable{half: half, cos: make([]float32, context*half), sin: make([]float32, context*half)}
	for pos := range context {
		for j := range half {
			theta := float64(pos) * math.Pow(ropeBase, -2*float64(j)/float64(hs))
			t.cos[pos*half+j] = float32(math.Cos(theta))
			t.sin[pos*half+j] = float32(math.Sin(theta))
		}
	}
	return t
}

// rotate turns the queries and keys of the rows of qkv [n, 3C] (row i at
// position pos(i)) in place; inverse applies the transposed rotation, which
// carries a gradient with respect to rotated queries and keys back to the
// unrotated ones.
func (r *ropeTable) rotate(qkv []float32, n, C, H int, pos func(i int) int, inverse bool) {
	hs, half := C/H, r.half
	parallelFor(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p := pos(i)
			cs, sn := r.cos[p*half:(p+1)*half], r.sin[p*half:(p+1)*half]
			row := qkv[i*3*C : i*3*C+2*C] // queries, then keys
			for h := range 2 * H {
				x := row[h*hs : h*hs+hs]
				for j := range half {
					a, b := x[j], x[j+half]
					c, s := cs[j], sn[j]
					if inverse {
						s = -s
					}
					x[j], x[j+half] = a*c-b*s, a*s+b*c
				}
			}
		}
	})
}
