package train

import (
	"slices"
	"testing"
)

func TestBatchIndicesCoverEachEpoch(t *testing.T) {
	const n, batch = 10, 3
	seen := map[int]int{}
	// Steps 0..2 draw 9 of the first epoch's 10 examples, step 3 takes the
	// last one and starts the next epoch.
	for step := 0; step < 3; step++ {
		for _, i := range BatchIndices(n, batch, step, 7) {
			seen[i]++
		}
	}
	if len(seen) != 9 {
		t.Errorf("first 9 draws hit %d distinct examples, want 9", len(seen))
	}
	last := BatchIndices(n, batch, 3, 7)
	if seen[last[0]] != 0 {
		t.Errorf("step 3 repeats example %d before the epoch ended", last[0])
	}
}

func TestBatchIndicesDeterministic(t *testing.T) {
	for step := 0; step < 5; step++ {
		a, b := BatchIndices(17, 4, step, 3), BatchIndices(17, 4, step, 3)
		if !slices.Equal(a, b) {
			t.Fatalf("step %d: %v then %v", step, a, b)
		}
	}
	if slices.Equal(BatchIndices(17, 4, 0, 3), BatchIndices(17, 4, 0, 4)) {
		t.Error("different seeds drew the same batch")
	}
	if got := BatchIndices(0, 4, 0, 1); got != nil {
		t.Errorf("no examples: got %v", got)
	}
}
