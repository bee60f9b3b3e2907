package transformer

import (
	"math"

	"gonum.org/v1/gonum/blas"
)

// attnBlock is the number of query rows processed together; blocking lets
// each block skip the key columns that the causal mask hides, halving the
// work of a dense T x T product.
const attnBlock = 64

// attentionForward is fused causal self-attention. qkv [B, T, 3C] holds the
// queries, keys and values of H heads of size C/H side by side; out [B, T, C]
// receives softmax(QK^T/sqrt(hs) + causal mask) V per head, and att
// [B, H, T, T] keeps the probabilities for the backward pass. Q, K and V are
// read in place through BLAS strides, so no head is ever transposed or copied.
func attentionForward(bl blas.Float32, out, att, qkv []float32, B, T, C, H int) {
	hs := C / H
	scale := float32(1 / math.Sqrt(float64(hs)))
	parallelFor(B*H, 1, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			b, h := u/H, u%H
			q := qkv[b*T*3*C+h*hs:]
			k, v := q[C:], q[2*C:]
			A := att[u*T*T:]
			for r0 := 0; r0 < T; r0 += attnBlock {
				r1 := min(r0+attnBlock, T)
				// A[r0:r1, 0:r1] = scale * Q[r0:r1] K[0:r1]^T
				bl.Sgemm(blas.NoTrans, blas.Trans, r1-r0, r1, hs, scale, q[r0*3*C:], 3*C, k, 3*C, 0, A[r0*T:], T)
				for i := r0; i < r1; i++ {
					row := A[i*T : i*T+r1]
					mx := row[0]
					for _, s := range row[:i+1] {
						mx = max(mx, s)
					}
					inv := 1 / expShift(row[:i+1], mx)
					for j := 0; j <= i; j++ {
						row[j] *= inv
					}
					clear(row[i+1:])
				}
				// out[r0:r1] = A[r0:r1, 0:r1] V[0:r1]
				bl.Sgemm(blas.NoTrans, blas.NoTrans, r1-r0, hs, r1, 1, A[r0*T:], T, v, 3*C, 0, out[b*T*C+r0*C+h*hs:], C)
			}
		}
	})
}

// attentionBackward adds to dqkv [B, T, 3C] the gradient given dout [B, T, C].
func attentionBackward(bl blas.Float32, dqkv, dout, att, qkv []float32, B, T, C, H int) {
	hs := C / H
	scale := float32(1 / math.Sqrt(float64(hs)))
	parallelFor(B*H, 1, func(lo, hi int) {
		dA := make([]float32, attnBlock*T)
		for u := lo; u < hi; u++ {
			b, h := u/H, u%H
			off := b*T*3*C + h*hs
			q, dq := qkv[off:], dqkv[off:]
			k, dk := q[C:], dq[C:]
			v, dv := q[2*C:], dq[2*C:]
			A := att[u*T*T:]
			for r0 := 0; r0 < T; r0 += attnBlock {
				r1 := min(r0+attnBlock, T)
				rows := r1 - r0
				dO := dout[b*T*C+r0*C+h*hs:]
				// dA = dO V^T ; dV += A^T dO
				bl.Sgemm(blas.NoTrans, blas.Trans, rows, r1, hs, 1, dO, C, v, 3*C, 0, dA, T)
				bl.Sgemm(blas.Trans, blas.NoTrans, r1, hs, rows, 1, A[r0*T:], T, dO, C, 1, dv, 3*C)
				// softmax backward: dS = A * (dA - sum(A*dA)) * scale
				for i := r0; i < r1; i++ {
					a, d := A[i*T:i*T+i+1], dA[(i-r0)*T:(i-r0)*T+r1]
					var s float32
					for j := range a {
						s += a[j] * d[j]
					}
					for j := range a {
						d[j] = a[j] * (d[j] - s) * scale
					}
					clear(d[i+1:])
				}
				// dQ[r0:r1] += dS K[0:r1] ; dK[0:r1] += dS^T Q[r0:r1]
				bl.Sgemm(blas.NoTrans, blas.NoTrans, rows, hs, r1, 1, dA, T, k, 3*C, 1, dq[r0*3*C:], 3*C)
				bl.Sgemm(blas.Trans, blas.NoTrans, r1, hs, rows, 1, dA, T, q[r0*3*C:], 3*C, 1, dk, 3*C)
			}
		}
	})
}
