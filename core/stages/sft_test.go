package stages

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/corpus"
	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/experiment"
	"github.com/lathe-ml/lathe/core/plots"
	"github.com/lathe-ml/lathe/core/runner"
	"github.com/lathe-ml/lathe/sdk"
)

func TestSupervisedExamples(t *testing.T) {
	eps := []episode.Episode{{
		TaskID:  "t",
		Prompt:  "Fix it.",
		Stop:    []string{"\n"},
		States:  []string{"L 1 x = 1\n***\nfail", "L 1 x = 2\n***\nAll 1 tests passed."},
		Actions: []string{"REPL 1 >>>x = 2", "EXIT"},
	}}
	tests := []struct {
		h    episode.History
		want []string // context | target per example
	}{
		{episode.Full, []string{
			"Fix it.\nL 1 x = 1\n***\nfail\n$ |REPL 1 >>>x = 2\n",
			"Fix it.\nL 1 x = 1\n***\nfail\n$ REPL 1 >>>x = 2\nL 1 x = 2\n***\nAll 1 tests passed.\n$ |EXIT\n",
		}},
		{episode.Last, []string{
			"Fix it.\nL 1 x = 1\n***\nfail\n$ |REPL 1 >>>x = 2\n",
			"Fix it.\nL 1 x = 2\n***\nAll 1 tests passed.\n$ |EXIT\n",
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.h), func(t *testing.T) {
			ex, err := SupervisedExamples(eps, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if len(ex) != len(tt.want) {
				t.Fatalf("got %d examples, want %d", len(ex), len(tt.want))
			}
			for i, e := range ex {
				if got := e.Context + "|" + e.Target; got != tt.want[i] {
					t.Errorf("example %d:\n%q\nwant\n%q", i, got, tt.want[i])
				}
			}
		})
	}
	// The tokenizer sees the whole episode once, final action included.
	corpus := tokenizerCorpus(eps)
	if len(corpus) != 1 || !strings.HasSuffix(corpus[0], "$ EXIT\n") || !strings.Contains(corpus[0], "REPL 1 >>>x = 2\n") {
		t.Errorf("tokenizer corpus %q", corpus)
	}
}

// TestWholeEpisodeExamples: one example per episode whose contexts and
// targets, read in order, are the per-turn full-history examples.
func TestWholeEpisodeExamples(t *testing.T) {
	eps := []episode.Episode{{
		TaskID: "t", Prompt: "Fix it.", Stop: []string{"\n"},
		States:  []string{"L 1 x = 1\n***\nfail", "L 1 x = 2\n***\nAll 1 tests passed.", "L 1 x = 2\n***\nAll 1 tests passed."},
		Actions: []string{"REPL 1 >>>x = 2", "EXIT"},
	}, {TaskID: "empty", Prompt: "p", States: []string{"s"}}}
	whole, err := WholeEpisodeExamples(eps)
	if err != nil {
		t.Fatal(err)
	}
	turns, err := SupervisedExamples(eps, episode.Full)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 1 || len(whole[0].Turns) != 1 {
		t.Fatalf("got %+v, want one example of two turns (the empty episode left out)", whole)
	}
	read := whole[0].Context
	if read != turns[0].Context || whole[0].Target != turns[0].Target {
		t.Errorf("turn 1: %q|%q, want %q|%q", read, whole[0].Target, turns[0].Context, turns[0].Target)
	}
	read += whole[0].Target + whole[0].Turns[0].Context
	if read != turns[1].Context || whole[0].Turns[0].Target != turns[1].Target {
		t.Errorf("turn 2: %q|%q, want %q|%q", read, whole[0].Turns[0].Target, turns[1].Context, turns[1].Target)
	}
}

// TestLearnSkipsThePolicysActions: the actions before an episode's Learn
// (a policy's own, DAgger) are context, never targets, in both forms of
// example, and the contexts are those the policy saw.
func TestLearnSkipsThePolicysActions(t *testing.T) {
	played := episode.Episode{
		TaskID: "t", Prompt: "Fix it.", Stop: []string{"\n"},
		States: []string{"L 1 x = 1\n***\nfail", "L 1 x = 1\n***\nREPW 1: expected two texts",
			"L 1 x = 2\n***\nAll 1 tests passed.", "L 1 x = 2\n***\nAll 1 tests passed."},
		Actions: []string{"REPW 1 >>>x", "REPL 1 >>>x = 2", "EXIT"},
	}
	relabelled := played
	relabelled.Learn = 1
	for _, h := range []episode.History{episode.Full, episode.Last} {
		all, err := SupervisedExamples([]episode.Episode{played}, h)
		if err != nil {
			t.Fatal(err)
		}
		learned, err := SupervisedExamples([]episode.Episode{relabelled}, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(learned) != 2 || !reflect.DeepEqual(learned, all[1:]) {
			t.Errorf("history %s: examples %q, want the last two of %q", h, learned, all)
		}
	}
	perTurn, _ := SupervisedExamples([]episode.Episode{played}, episode.Full)
	whole, err := WholeEpisodeExamples([]episode.Episode{relabelled})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 1 || len(whole[0].Turns) != 1 {
		t.Fatalf("whole-episode examples %+v, want one of two learned turns", whole)
	}
	if whole[0].Context != perTurn[1].Context || whole[0].Target != "REPL 1 >>>x = 2\n" {
		t.Errorf("first learned turn %q|%q, want %q|%q", whole[0].Context, whole[0].Target, perTurn[1].Context, perTurn[1].Target)
	}
	if read := whole[0].Context + whole[0].Target + whole[0].Turns[0].Context; read != perTurn[2].Context || whole[0].Turns[0].Target != "EXIT\n" {
		t.Errorf("second learned turn %q|%q, want %q|EXIT", read, whole[0].Turns[0].Target, perTurn[2].Context)
	}
}

// TestHoldOut: held-out episodes are those of whole tasks, chosen by hash,
// the same for the same seed, and none without a fraction.
func TestHoldOut(t *testing.T) {
	var eps []episode.Episode
	for i := range 400 {
		eps = append(eps, episode.Episode{TaskID: fmt.Sprintf("task/%d", i/2)}) // two episodes per task
	}
	train, held := holdOut(eps, 7, 0.1)
	if len(train)+len(held) != len(eps) || len(held) < 20 || len(held) > 60 {
		t.Fatalf("%d trained, %d held out of %d, want about 10%% held out", len(train), len(held), len(eps))
	}
	heldTasks := map[string]bool{}
	for _, e := range held {
		heldTasks[e.TaskID] = true
	}
	for _, e := range train {
		if heldTasks[e.TaskID] {
			t.Fatalf("task %s is both trained on and held out", e.TaskID)
		}
	}
	if _, again := holdOut(eps, 7, 0.1); len(again) != len(held) || again[0].TaskID != held[0].TaskID {
		t.Error("held-out set differs for the same seed")
	}
	if train, held := holdOut(eps, 7, 0); len(held) != 0 || len(train) != len(eps) {
		t.Error("fraction 0 held episodes out")
	}
}

func TestReadEpisodesNamesTheBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "episodes.jsonl")
	good := `{"task_id":"a","prompt":"p","states":["s0","s1"],"actions":["EXIT"]}`
	bad := `{"task_id":"b","prompt":"p","states":["s0"],"actions":["EXIT"]}`
	if err := os.WriteFile(path, []byte(good+"\n"+bad+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := episode.ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), "episodes.jsonl:2: 1 states for 1 actions") {
		t.Errorf("err = %v, want one naming line 2", err)
	}
}

func TestLastPerStepKeepsTheResumedValue(t *testing.T) {
	pts := []plots.Point{
		{Stage: "sft", Metric: "loss", Step: 1, Value: 3},
		{Stage: "sft", Metric: "loss", Step: 2, Value: 2},
		{Stage: "sft", Metric: "loss", Step: 2, Value: 1.5}, // logged again after a resume
	}
	got := lastPerStep(pts)
	if len(got) != 2 || got[1].Value != 1.5 {
		t.Errorf("lastPerStep = %+v", got)
	}
}

// TestWithoutLeaks: a training task holding an evaluated program is left
// out; a task evaluated on its own split (an eval of the train split)
// stays; a held-out task (test or validation) is left out even of a split
// that includes it (all), though the program it holds is its own.
func TestWithoutLeaks(t *testing.T) {
	prog := "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
	ts := []sdk.Task{
		{ID: "train/1", Reference: "def g(x):\n    return x\n", Program: "def g(x):\n    return x\n"},
		{ID: "train/2", Reference: "import os\n" + prog, Program: "import os\n" + prog},
		{ID: "train/3", Reference: "def h():\n    y = 1\n    z = 2\n    return y + z\n", Program: "def h():\n    y = 1\n    z = 2\n    return y + z\n"},
		{ID: "test/9", Reference: prog, Program: prog},
	}
	programs := []corpus.Program{
		{Name: "test/9 (dataset \"d\", split test)", Text: prog},
		{Name: "train/3 (dataset \"d\", split train)", Text: ts[2].Reference},
	}
	heldOut := map[string]bool{programs[0].Name: true}
	kept, leaks := withoutLeaks(ts, programs, heldOut)
	if len(kept) != 2 || kept[0].ID != "train/1" || kept[1].ID != "train/3" {
		t.Errorf("kept %v, want train/1 and train/3", kept)
	}
	if len(leaks) != 2 || leaks[0].Path != "train/2" || leaks[1].Path != "test/9" || !strings.HasPrefix(leaks[0].Program, "test/9") {
		t.Errorf("leaks %v, want train/2 and test/9 holding test/9", leaks)
	}
}

func TestDropClosingTurns(t *testing.T) {
	fixed := "L 1 x = 2\n***\nAll 1 tests passed."
	demo := func(id string) episode.Episode {
		return episode.Episode{TaskID: id, Solved: true,
			States:  []string{"L 1 x = 1\n***\nfail", fixed, fixed},
			Actions: []string{"REPL 1 >>>x = 2", "EXIT"}}
	}
	// Not closing turns: an unsolved episode, a last action that changed
	// the program, and a one-action episode (a direct answer).
	unsolved := demo("u")
	unsolved.Solved = false
	lastFix := episode.Episode{TaskID: "f", Solved: true,
		States:  []string{"L 1 x = 1\n***\nfail", "L 1 x = 3\n***\nfail", fixed},
		Actions: []string{"REPL 1 >>>x = 3", "REPL 1 >>>x = 2"}}
	direct := episode.Episode{TaskID: "d", Solved: true, States: []string{"x = 1", "x = 2"}, Actions: []string{"x = 2"}}
	var eps []episode.Episode
	for i := range 200 {
		eps = append(eps, demo(fmt.Sprintf("t%d", i)))
	}
	eps = append(eps, unsolved, lastFix, direct)
	tests := []struct {
		keep             float64
		minDrop, maxDrop int
	}{
		{1, 0, 0},
		{0, 200, 200},
		{0.25, 130, 170}, // about 150 of 200
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.keep), func(t *testing.T) {
			got, dropped := dropClosingTurns(eps, 7, tt.keep)
			if dropped < tt.minDrop || dropped > tt.maxDrop {
				t.Fatalf("dropped %d closing turns, want %d-%d", dropped, tt.minDrop, tt.maxDrop)
			}
			ex, err := SupervisedExamples(got, episode.Last)
			if err != nil {
				t.Fatal(err)
			}
			if want := 200*2 + 2 + 2 + 1 - dropped; len(ex) != want {
				t.Errorf("%d examples, want %d", len(ex), want)
			}
			trimmed := 0
			for i, e := range got {
				if len(e.States) != len(e.Actions)+1 {
					t.Fatalf("episode %d: %d states for %d actions", i, len(e.States), len(e.Actions))
				}
				if i >= 200 && !reflect.DeepEqual(e, eps[i]) {
					t.Errorf("episode %s without a closing turn was changed: %+v", e.TaskID, e)
				}
				if len(e.Actions) == 1 && i < 200 {
					trimmed++
					if e.Actions[0] != "REPL 1 >>>x = 2" {
						t.Errorf("episode %d kept %q, want the fix", i, e.Actions)
					}
				}
			}
			if trimmed != dropped {
				t.Errorf("%d episodes trimmed, %d reported", trimmed, dropped)
			}
			again, _ := dropClosingTurns(eps, 7, tt.keep)
			if !reflect.DeepEqual(again, got) {
				t.Error("same seed, different episodes trimmed")
			}
		})
	}
	if len(eps[0].Actions) != 2 {
		t.Error("the input episodes were changed")
	}
}

// TestShare: fractions outside their range are refused with the stage and
// the attribute named; heldout may not be 1, closing_turns may.
func TestShare(t *testing.T) {
	env := &runner.StageEnv{Stage: &experiment.Stage{Block: "stage", Label: "sft"}}
	tests := []struct {
		name    string
		f       float64
		all     bool
		wantErr string
	}{
		{"heldout", 0.05, false, ""},
		{"heldout", 0, false, ""},
		{"heldout", 1, false, "stage.sft: heldout must be in [0, 1), got 1"},
		{"closing_turns", 1, true, ""},
		{"closing_turns", 0.25, true, ""},
		{"closing_turns", -0.1, true, "stage.sft: closing_turns must be in [0, 1], got -0.1"},
		{"closing_turns", 1.5, true, "stage.sft: closing_turns must be in [0, 1], got 1.5"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.f), func(t *testing.T) {
			got, err := share(env, tt.name, tt.f, tt.all)
			switch {
			case tt.wantErr == "" && (err != nil || got != tt.f):
				t.Errorf("got %g, %v; want %g", got, err, tt.f)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
