package transformer

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// episodeTurns is a three-turn repair episode in the layout of core/episode
// with history "full": the context of turn t is everything before its
// command.
var episodeTurns = []sdk.SupervisedTurn{
	{Context: "Fix it.\nL 1 def f(x):\nL 2     retrun x\n***\nSyntaxError\n$ ", Target: "REPL 2 >>>    return x\n"},
	{Context: "L 1 def f(x):\nL 2     return x\n***\nTest 1 failed\n$ ", Target: "REPW 2 >>>x >>>x + 1\n"},
	{Context: "L 1 def f(x):\nL 2     return x + 1\n***\nAll 2 tests passed.\n$ ", Target: "EXIT\n"},
}

// wholeEpisode is the episode as one SupervisedExample.
func wholeEpisode() sdk.SupervisedExample {
	return sdk.SupervisedExample{Context: episodeTurns[0].Context, Target: episodeTurns[0].Target, Turns: episodeTurns[1:]}
}

// perTurn is the same episode as one example per turn.
func perTurn() []sdk.SupervisedExample {
	var out []sdk.SupervisedExample
	var past strings.Builder
	for _, t := range episodeTurns {
		past.WriteString(t.Context)
		out = append(out, sdk.SupervisedExample{Context: past.String(), Target: t.Target})
		past.WriteString(t.Target)
	}
	return out
}

func episodeModel(t *testing.T, opts map[string]any) *Model {
	t.Helper()
	m := tinyModel(t, opts)
	var corpus []string
	for _, e := range perTurn() {
		corpus = append(corpus, e.Context+e.Target)
	}
	if err := m.FitTokenizer(context.Background(), corpus); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEpisodeEncodesAsItsParts: the tokens of a whole episode are its
// contexts and targets encoded one by one, so one sequence holds exactly the
// tokens each per-turn context would (the action prompt's space never joins
// the command after it).
func TestEpisodeEncodesAsItsParts(t *testing.T) {
	m := episodeModel(t, nil)
	var whole string
	var parts []int32
	for _, tr := range episodeTurns {
		whole += tr.Context + tr.Target
		parts = append(parts, m.tok.Encode(tr.Context)...)
		parts = append(parts, m.tok.Encode(tr.Target)...)
	}
	if got := m.tok.Encode(whole); !slices.Equal(got, parts) {
		t.Fatalf("episode encodes to %d tokens, its parts to %d", len(got), len(parts))
	}
}

// TestWholeEpisodeTrainsLikeItsTurns: one step on the episode as one
// sequence reports the same loss and moves the weights the same way as one
// step on its per-turn examples, in a window that holds the episode and in
// one so small that the later turns are cut (their own sequences).
func TestWholeEpisodeTrainsLikeItsTurns(t *testing.T) {
	tests := []struct {
		name    string
		context float64
		wantSeq float64 // sequences the whole episode becomes
	}{
		{"fits the window", 160, 1},
		{"first turns joined, the last cut to the window", 96, 2},
		{"every turn cut to the window", 64, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			opts := map[string]any{"context": tt.context}
			whole, turns := episodeModel(t, opts), episodeModel(t, opts)
			sw, err := whole.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{wholeEpisode()}, TotalSteps: 10})
			if err != nil {
				t.Fatal(err)
			}
			st, err := turns.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: perTurn(), TotalSteps: 10})
			if err != nil {
				t.Fatal(err)
			}
			if sw.Tokens != st.Tokens || math.Abs(sw.Loss-st.Loss) > 1e-4 {
				t.Fatalf("whole episode: loss %.6f over %d tokens; per turn: %.6f over %d", sw.Loss, sw.Tokens, st.Loss, st.Tokens)
			}
			if sw.Metrics["sequences"] != tt.wantSeq {
				t.Errorf("whole episode laid out as %v sequences, want %v", sw.Metrics["sequences"], tt.wantSeq)
			}
			var worst float64
			for i := range whole.net.p.data {
				worst = math.Max(worst, math.Abs(float64(whole.net.p.data[i]-turns.net.p.data[i])))
			}
			if worst > 1e-4 {
				t.Errorf("weights after one step differ by up to %g", worst)
			}
		})
	}
}

// TestContextWeight: a positive weight scores the context tokens too,
// reports their loss apart and leaves the target loss as reported without it.
func TestContextWeight(t *testing.T) {
	ctx := context.Background()
	plain, weighted := episodeModel(t, map[string]any{"context": 160.0}), episodeModel(t, map[string]any{"context": 160.0})
	sp, err := plain.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{wholeEpisode()}, TotalSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := weighted.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{wholeEpisode()}, TotalSteps: 10, ContextWeight: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(sp.Loss-sw.Loss) > 1e-5 || sp.Tokens != sw.Tokens {
		t.Fatalf("target loss %.6f (%d tokens) with context weight, %.6f (%d) without", sw.Loss, sw.Tokens, sp.Loss, sp.Tokens)
	}
	if _, ok := sp.Metrics["context_loss"]; ok {
		t.Errorf("context_loss reported with weight 0")
	}
	if cl := sw.Metrics["context_loss"]; !(cl > 0) {
		t.Errorf("context_loss = %v, want a positive mean", cl)
	}
	if _, err := plain.TrainSupervised(ctx, sdk.SupervisedBatch{Examples: []sdk.SupervisedExample{wholeEpisode()}, ContextWeight: -1}); err == nil {
		t.Error("negative context weight accepted")
	}
}
