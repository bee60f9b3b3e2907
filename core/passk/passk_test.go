package passk

import (
	"math"
	"testing"
)

// binom is the direct formula, fine for the small n used here.
func binom(n, k int) float64 {
	if k < 0 || k > n {
		return 0
	}
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

func TestEstimate(t *testing.T) {
	tests := []struct {
		name    string
		n, c, k int
		want    float64
	}{
		{"none pass", 4, 0, 1, 0},
		{"all pass", 4, 4, 4, 1},
		{"pass@1 is the pass rate", 10, 3, 1, 0.3},
		{"one of four, pass@4", 4, 1, 4, 1},
		{"one of four, pass@2", 4, 1, 2, 0.5}, // 1 - C(3,2)/C(4,2) = 1 - 3/6
		{"two of five, pass@2", 5, 2, 2, 0.7}, // 1 - C(3,2)/C(5,2) = 1 - 3/10
		{"n-c < k is certain", 5, 3, 3, 1},    // C(2,3) = 0
		{"large n", 200, 17, 10, 1 - binom(183, 10)/binom(200, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Estimate(tt.n, tt.c, tt.k)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Estimate(%d,%d,%d) = %.12f, want %.12f", tt.n, tt.c, tt.k, got, tt.want)
			}
		})
	}
}

func TestEstimateRejectsBadArguments(t *testing.T) {
	for _, a := range [][3]int{{4, 5, 1}, {4, 1, 0}, {4, 1, 5}, {4, -1, 1}} {
		if _, err := Estimate(a[0], a[1], a[2]); err == nil {
			t.Errorf("Estimate%v: want error", a)
		}
	}
}

func TestMean(t *testing.T) {
	got, err := Mean(4, []int{0, 1, 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := (0 + 0.5 + 1) / 3.0; math.Abs(got-want) > 1e-12 {
		t.Errorf("Mean = %v, want %v", got, want)
	}
	if _, err := Mean(4, nil, 1); err == nil {
		t.Error("Mean of no tasks: want error")
	}
}
