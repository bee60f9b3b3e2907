package grpo

import (
	"math"
	"testing"
)

func TestAdvantages(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		rewards [][]float64
		want    [][]float64
	}{
		{
			// Totals 1 and 0: mean 0.5, std 0.5 -> +1 / -1 on every turn.
			name:    "trajectory: one solved, one not",
			mode:    PerTrajectory,
			rewards: [][]float64{{0, 0, 1}, {0, 0}},
			want:    [][]float64{{1, 1, 1}, {-1, -1}},
		},
		{
			name:    "trajectory: equal returns carry no signal",
			mode:    PerTrajectory,
			rewards: [][]float64{{1}, {0, 1}, {0, 0, 1}},
			want:    [][]float64{{0}, {0, 0}, {0, 0, 0}},
		},
		{
			// Returns-to-go: {1, 1} and {0, 0}: mean 0.5, std 0.5.
			name:    "turn: pass at the last turn credits the whole trajectory",
			mode:    PerTurn,
			rewards: [][]float64{{0, 1}, {0, 0}},
			want:    [][]float64{{1, 1}, {-1, -1}},
		},
		{
			// Returns-to-go {0.5, 1} and {0}. Turn 1: mean 0.25, residuals
			// +-0.25, std 0.25. Turn 2 was reached by one trajectory only.
			name:    "turn: the second turn alone has no baseline",
			mode:    PerTurn,
			rewards: [][]float64{{-0.5, 1}, {0}},
			want:    [][]float64{{1, 0}, {-1}},
		},
		{
			// Returns-to-go {1, 0, -0.5} and {-0.5}: turn 1 mean 0.25,
			// residuals +-0.75.
			name:    "turn: missing EXIT after a pass",
			mode:    PerTurn,
			rewards: [][]float64{{1, 0.5, -0.5}, {-0.5}},
			want:    [][]float64{{1, 0, 0}, {-1}},
		},
		{
			// Identical trajectories: every residual is zero, even though
			// the returns-to-go differ from turn to turn.
			name:    "turn: identical malformed trajectories carry no signal",
			mode:    PerTurn,
			rewards: [][]float64{{-0.5, -0.5, -1}, {-0.5, -0.5, -1}},
			want:    [][]float64{{0, 0, 0}, {0, 0, 0}},
		},
		{
			// Returns-to-go {1, 1}, {0, 0}, {-0.5, 0}: turn 1 mean 1/6,
			// turn 2 mean 1/3. Residuals 5/6, -1/6, -2/3 and 2/3, -1/3,
			// -1/3; their std is sqrt((25+1+16+16+4+4)/36 / 6) = sqrt(66/216).
			name:    "turn: three trajectories",
			mode:    PerTurn,
			rewards: [][]float64{{0, 1}, {0, 0}, {-0.5, 0}},
			want: [][]float64{
				{(5.0 / 6) / math.Sqrt(66.0/216), (2.0 / 3) / math.Sqrt(66.0/216)},
				{(-1.0 / 6) / math.Sqrt(66.0/216), (-1.0 / 3) / math.Sqrt(66.0/216)},
				{(-2.0 / 3) / math.Sqrt(66.0/216), (-1.0 / 3) / math.Sqrt(66.0/216)},
			},
		},
		{
			name:    "turn: group of four, two solved",
			mode:    PerTrajectory,
			rewards: [][]float64{{1}, {1}, {0}, {0}},
			want:    [][]float64{{1}, {1}, {-1}, {-1}},
		},
		{
			// Totals 2, 0, 0, 0: mean 0.5, std sqrt(0.75).
			name:    "trajectory: a single winner",
			mode:    PerTrajectory,
			rewards: [][]float64{{1, 1}, {0}, {0}, {0}},
			want: [][]float64{
				{1.5 / math.Sqrt(0.75), 1.5 / math.Sqrt(0.75)},
				{-0.5 / math.Sqrt(0.75)}, {-0.5 / math.Sqrt(0.75)}, {-0.5 / math.Sqrt(0.75)},
			},
		},
		{
			name:    "empty trajectory keeps its place",
			mode:    PerTrajectory,
			rewards: [][]float64{{}, {2}},
			want:    [][]float64{{}, {1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Advantages(tt.rewards, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d trajectories, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if len(got[i]) != len(tt.want[i]) {
					t.Fatalf("trajectory %d: got %d turns, want %d", i, len(got[i]), len(tt.want[i]))
				}
				for j := range got[i] {
					if math.Abs(got[i][j]-tt.want[i][j]) > 1e-9 {
						t.Errorf("A[%d][%d] = %.9f, want %.9f", i, j, got[i][j], tt.want[i][j])
					}
				}
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"turn", "trajectory"} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := ParseMode("episode"); err == nil {
		t.Error(`ParseMode("episode"): want error`)
	}
}
