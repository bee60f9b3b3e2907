package transformer

import (
	"runtime"

	"gonum.org/v1/gonum/blas"
)

// parSgemm is C = alpha op(A) op(B) + beta C with the M rows of C split
// across CPUs, each part a separate single-threaded BLAS call. Small
// products run as one call.
func parSgemm(bl blas.Float32, tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	workers := runtime.GOMAXPROCS(0)
	if workers <= 1 || m < 2*16 || m*n*k < 1<<21 {
		bl.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Row blocks are multiples of 16 so each BLAS call keeps whole kernel tiles.
	step := ((m+workers-1)/workers + 15) / 16 * 16
	parallelFor(workers, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			r0 := w * step
			if r0 >= m {
				continue
			}
			r1 := min(r0+step, m)
			aOff := r0 * lda // row r0 of A
			if tA == blas.Trans {
				aOff = r0 // A is k x m: column r0
			}
			bl.Sgemm(tA, tB, r1-r0, n, k, alpha, a[aOff:], lda, b, ldb, beta, c[r0*ldc:], ldc)
		}
	})
}
