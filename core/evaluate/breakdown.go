package evaluate

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/lathe-ml/lathe/core/results"
	"github.com/lathe-ml/lathe/core/rollout"
)

// Dimensions of a breakdown, in the order they are reported.
const (
	// FirstError groups tasks by what the broken program raised before any
	// edit (sdk.StepInfo.ErrorType of the first state).
	FirstError = "first_error"
	// Operator groups tasks by the corruption operators that broke them;
	// a task broken by two operators counts in both groups.
	Operator = "operator"
	// Corruptions groups tasks by how many corruptions broke them.
	Corruptions = "corruptions"
)

var dimensionOrder = []string{FirstError, Operator, Corruptions}

// Label places a task in one group of a breakdown.
type Label struct {
	Dimension, Value string
}

// CorruptionLabels labels a task by its corruption operators (each once)
// and their number; a task that was not broken by corruptions (a
// hand-written bug) gets Operator and Corruptions "none".
func CorruptionLabels(ops []string) []Label {
	if len(ops) == 0 {
		return []Label{{Operator, "none"}, {Corruptions, "none"}}
	}
	var out []Label
	seen := map[string]bool{}
	for _, op := range ops {
		if !seen[op] {
			seen[op] = true
			out = append(out, Label{Operator, op})
		}
	}
	return append(out, Label{Corruptions, strconv.Itoa(len(ops))})
}

// Breakdown is pass@1 (the mean success of a task's n sampled episodes,
// averaged over the tasks) per group: by the first state's error type, and
// by labels[i] for task i when labels is given. sampled holds n episodes
// per task as Play returns them. Groups come by dimension, then by falling
// number of tasks.
func Breakdown(sampled []*rollout.Trajectory, n int, labels [][]Label) []results.Group {
	if n <= 0 || len(sampled) < n {
		return nil
	}
	type acc struct {
		tasks  int
		solved float64
	}
	sums := map[Label]*acc{}
	add := func(l Label, rate float64) {
		a := sums[l]
		if a == nil {
			a = &acc{}
			sums[l] = a
		}
		a.tasks++
		a.solved += rate
	}
	for i := 0; i+n <= len(sampled); i += n {
		group := sampled[i : i+n]
		solved := 0
		for _, tr := range group {
			if tr.Solved() {
				solved++
			}
		}
		rate := float64(solved) / float64(n)
		add(Label{FirstError, cmp.Or(group[0].Initial.ErrorType, "none")}, rate)
		if task := i / n; task < len(labels) {
			for _, l := range labels[task] {
				add(l, rate)
			}
		}
	}
	out := make([]results.Group, 0, len(sums))
	for l, a := range sums {
		out = append(out, results.Group{Dimension: l.Dimension, Value: l.Value, Tasks: a.tasks, Pass1: a.solved / float64(a.tasks)})
	}
	rank := func(d string) int {
		if i := slices.Index(dimensionOrder, d); i >= 0 {
			return i
		}
		return len(dimensionOrder)
	}
	slices.SortFunc(out, func(a, b results.Group) int {
		return cmp.Or(cmp.Compare(rank(a.Dimension), rank(b.Dimension)), cmp.Compare(a.Dimension, b.Dimension),
			cmp.Compare(b.Tasks, a.Tasks), cmp.Compare(a.Value, b.Value))
	})
	return out
}
