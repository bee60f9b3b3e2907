package cluster

import (
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
)

func TestResultCheck(t *testing.T) {
	turn := rollout.Turn{Context: "c"}
	tests := []struct {
		name  string
		trajs []*rollout.Trajectory
		want  string // "" for a usable result
	}{
		{"none", nil, ""},
		{"finished", []*rollout.Trajectory{{States: []string{"a", "b"}, Turns: []rollout.Turn{turn}, SolvedAt: 1}}, ""},
		{"no turn", []*rollout.Trajectory{{States: []string{"a"}}}, ""},
		{"missing", []*rollout.Trajectory{{States: []string{"a"}}, nil}, "episode 1 is missing"},
		{"a state short", []*rollout.Trajectory{{States: []string{"a"}, Turns: []rollout.Turn{turn}}}, "episode 0 has 1 states for 1 turns"},
		{"solved after the end", []*rollout.Trajectory{{States: []string{"a", "b"}, Turns: []rollout.Turn{turn}, SolvedAt: 2}}, "solved at turn 2 of 1"},
		{"solved before the start", []*rollout.Trajectory{{States: []string{"a"}, SolvedAt: -1}}, "solved at turn -1 of 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Result{Trajectories: tc.trajs}).check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check = %v, want %q", err, tc.want)
			}
		})
	}
}
