//go:build !openblas

package transformer

import (
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// defaultBLAS is gonum's pure-Go BLAS; build with -tags openblas for the
// OpenBLAS one.
func defaultBLAS() (G.BLAS, string) { return gonum.Implementation{}, "gorgonia+gonum" }
