// Package passk estimates pass@k from n samples per task with the unbiased
// estimator of Chen et al. (2021): 1 - C(n-c, k) / C(n, k), where c samples
// passed. It is computed as a running product so that large n neither
// overflows nor loses precision.
package passk

import "fmt"

// Estimate returns the unbiased pass@k for one task with n samples of which
// c passed. It requires 0 <= c <= n and 1 <= k <= n.
func Estimate(n, c, k int) (float64, error) {
	if k < 1 || k > n || c < 0 || c > n {
		return 0, fmt.Errorf("passk: need 1 <= k <= n and 0 <= c <= n, got n=%d c=%d k=%d", n, c, k)
	}
	if n-c < k {
		return 1, nil
	}
	// C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
	fail := 1.0
	for i := n - c + 1; i <= n; i++ {
		fail *= 1 - float64(k)/float64(i)
	}
	return 1 - fail, nil
}

// Mean averages Estimate over tasks; passed[i] is the number of passing
// samples of task i, each task having n samples.
func Mean(n int, passed []int, k int) (float64, error) {
	if len(passed) == 0 {
		return 0, fmt.Errorf("passk: no tasks")
	}
	var sum float64
	for _, c := range passed {
		p, err := Estimate(n, c, k)
		if err != nil {
			return 0, err
		}
		sum += p
	}
	return sum / float64(len(passed)), nil
}
