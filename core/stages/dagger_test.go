package stages

import (
	"reflect"
	"testing"

	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

// TestContinuationPrefixes: the expert continues after every action that
// left the episode open, up to the first that solved it, and never after
// one that ended it (an EXIT, solved or not, or the turn limit), where the
// replayed episode would end before the first action to learn.
func TestContinuationPrefixes(t *testing.T) {
	turn := func(text string, solved, done bool) rollout.Turn {
		return rollout.Turn{Completion: sdk.Completion{Text: text}, Info: sdk.StepInfo{Solved: solved}, Done: done}
	}
	cases := []struct {
		name  string
		turns []rollout.Turn
		want  [][]string
	}{
		{"open throughout", []rollout.Turn{turn("a", false, false), turn("b", false, false)}, [][]string{{"a"}, {"a", "b"}}},
		{"solved, then EXIT", []rollout.Turn{turn("a", false, false), turn("fix", true, false), turn("EXIT", true, true)},
			[][]string{{"a"}, {"a", "fix"}}},
		{"solved and EXIT at once", []rollout.Turn{turn("a", false, false), turn("EXIT", true, true)}, [][]string{{"a"}}},
		{"unsolved EXIT", []rollout.Turn{turn("EXIT", false, true)}, nil},
		{"turn limit", []rollout.Turn{turn("a", false, false), turn("b", false, true)}, [][]string{{"a"}}},
		{"solved at the turn limit", []rollout.Turn{turn("a", false, false), turn("fix", true, true)}, [][]string{{"a"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			states := make([]string, len(c.turns)+1)
			got := continuationPrefixes(&rollout.Trajectory{Turns: c.turns, States: states})
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("prefixes = %q, want %q", got, c.want)
			}
		})
	}
}
