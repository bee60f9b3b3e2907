//go:build openblas

package transformer

// netlib declares no linker flags of its own, so this file supplies them.

// #cgo LDFLAGS: -lopenblas
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// defaultBLAS is OpenBLAS through gonum/netlib's cgo bindings.
func defaultBLAS() (G.BLAS, string) { return netlib.Implementation{}, "gorgonia+openblas" }
