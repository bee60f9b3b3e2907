package evaluate

import (
	"reflect"
	"testing"

	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rollout"
	"github.com/lathe-ml/lathe/sdk"
)

func TestCorruptionLabels(t *testing.T) {
	tests := []struct {
		ops  []string
		want []Label
	}{
		{nil, []Label{{Operator, "none"}, {Corruptions, "none"}}},
		{[]string{"typo"}, []Label{{Operator, "typo"}, {Corruptions, "1"}}},
		{[]string{"typo", "delete_line", "typo"}, []Label{{Operator, "typo"}, {Operator, "delete_line"}, {Corruptions, "3"}}},
	}
	for _, tt := range tests {
		if got := CorruptionLabels(tt.ops); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("CorruptionLabels(%q) = %v, want %v", tt.ops, got, tt.want)
		}
	}
}

func TestBreakdown(t *testing.T) {
	withError := func(tr *rollout.Trajectory, typ string) *rollout.Trajectory {
		tr.Initial = sdk.StepInfo{ErrorType: typ}
		return tr
	}
	sampled := []*rollout.Trajectory{
		// task 0, NameError, one typo: 2 of 2 solved.
		withError(ep(1, 1), "NameError"), withError(ep(2, 2), "NameError"),
		// task 1, NameError, typo and a deleted line: 1 of 2.
		withError(ep(1, 1), "NameError"), withError(ep(2), "NameError"),
		// task 2, AssertionError, hand-written: 0 of 2.
		withError(ep(1), "AssertionError"), withError(ep(1), "AssertionError"),
	}
	labels := [][]Label{
		CorruptionLabels([]string{"typo"}),
		CorruptionLabels([]string{"typo", "delete_line"}),
		CorruptionLabels(nil),
	}
	group := func(dim, value string, tasks int, pass1 float64) results.Group {
		return results.Group{Dimension: dim, Value: value, Tasks: tasks, Pass1: pass1}
	}
	want := []results.Group{
		group(FirstError, "NameError", 2, 0.75),
		group(FirstError, "AssertionError", 1, 0),
		group(Operator, "typo", 2, 0.75),
		group(Operator, "delete_line", 1, 0.5),
		group(Operator, "none", 1, 0),
		group(Corruptions, "1", 1, 1),
		group(Corruptions, "2", 1, 0.5),
		group(Corruptions, "none", 1, 0),
	}
	if got := Breakdown(sampled, 2, labels); !reflect.DeepEqual(got, want) {
		t.Errorf("Breakdown =\n%v\nwant\n%v", got, want)
	}
	// Without labels, only the first error.
	if got := Breakdown(sampled, 2, nil); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("Breakdown without labels = %v, want %v", got, want[:2])
	}
}
