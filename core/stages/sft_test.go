package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/core/plots"
)

func TestSupervisedExamples(t *testing.T) {
	eps := []Episode{{
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

func TestReadEpisodesNamesTheBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "episodes.jsonl")
	good := `{"task_id":"a","prompt":"p","states":["s0","s1"],"actions":["EXIT"]}`
	bad := `{"task_id":"b","prompt":"p","states":["s0"],"actions":["EXIT"]}`
	if err := os.WriteFile(path, []byte(good+"\n"+bad+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readEpisodes(path)
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
