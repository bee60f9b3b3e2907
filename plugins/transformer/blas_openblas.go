//go:build openblas

package transformer

// netlib declares no linker flags of its own, so this file supplies them.

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int);
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// defaultBLAS is OpenBLAS through gonum/netlib's cgo bindings, limited to
// one thread per call: the model splits every product across cores itself
// (parSgemm, per-head attention), and OpenBLAS's own threads, when several
// goroutines call it at once, spin in sched_yield; measured on 2 cores this
// took a training step from 10 to 23 GFLOP/s.
func defaultBLAS() (G.BLAS, string) {
	C.openblas_set_num_threads(1)
	return netlib.Implementation{}, "gorgonia+openblas"
}
