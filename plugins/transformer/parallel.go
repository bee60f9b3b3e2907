package transformer

import (
	"runtime"
	"sync"
)

// parallelFor splits [0,n) into contiguous chunks, one per CPU, and runs fn
// on each; small n runs inline so tiny ops do not pay for goroutines.
func parallelFor(n, minPerWorker int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if minPerWorker < 1 {
		minPerWorker = 1
	}
	if w := n / minPerWorker; w < workers {
		workers = w
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
