package tests

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/sdktest"
)

var (
	valid   = sdk.StepInfo{Valid: true, Passed: 1, Total: 3}
	solved  = sdk.StepInfo{Valid: true, Solved: true, Passed: 3, Total: 3}
	invalid = sdk.StepInfo{Valid: false, ErrorClass: "parse", Passed: 1, Total: 3}
)

func TestScoreTransitions(t *testing.T) {
	cases := []struct {
		name  string
		tr    sdk.Transition
		want  float64
		parts map[string]float64
	}{
		{"edit that changes nothing", sdk.Transition{Before: valid, After: valid}, 0, map[string]float64{}},
		{"first pass", sdk.Transition{Before: valid, After: solved, Turn: 2}, 1,
			map[string]float64{"solved": 1}},
		{"still passing after an earlier pass", sdk.Transition{Before: solved, After: solved, SolvedEarlier: true}, 0,
			map[string]float64{}},
		{"passes again after breaking it", sdk.Transition{Before: valid, After: solved, SolvedEarlier: true}, 0,
			map[string]float64{}},
		{"malformed command", sdk.Transition{Before: valid, After: invalid}, -0.5,
			map[string]float64{"format": -0.5}},
		{"EXIT after solving", sdk.Transition{Before: solved, After: sdk.StepInfo{Valid: true, Solved: true, Exited: true}, Done: true, SolvedEarlier: true}, 0,
			map[string]float64{}},
		{"solving at the turn limit without EXIT", sdk.Transition{Before: valid, After: sdk.StepInfo{Valid: true, Solved: true, TurnLimit: true}, Done: true}, 0.5,
			map[string]float64{"solved": 1, "missing_exit": -0.5}},
		{"malformed last turn at the limit", sdk.Transition{Before: valid, After: sdk.StepInfo{Valid: false, TurnLimit: true}, Done: true}, -1,
			map[string]float64{"format": -0.5, "missing_exit": -0.5}},
		{"EXIT unsolved", sdk.Transition{Before: valid, After: sdk.StepInfo{Valid: true, Exited: true}, Done: true}, 0,
			map[string]float64{}},
		{"one-shot answer that solves", sdk.Transition{After: sdk.StepInfo{Valid: true, Solved: true, Exited: true}, Done: true}, 1,
			map[string]float64{"solved": 1}},
	}
	r := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := r.Score(context.Background(), c.tr)
			if err != nil {
				t.Fatal(err)
			}
			if s.Reward != c.want || !reflect.DeepEqual(s.Components, c.parts) {
				t.Errorf("score = %v %v, want %v %v", s.Reward, s.Components, c.want, c.parts)
			}
		})
	}
	// ScoreBatch agrees with Score, in order.
	ts := make([]sdk.Transition, len(cases))
	for i, c := range cases {
		ts[i] = c.tr
	}
	batch, err := r.ScoreBatch(context.Background(), ts)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if batch[i].Reward != c.want {
			t.Errorf("batch[%d] (%s) = %v, want %v", i, c.name, batch[i].Reward, c.want)
		}
	}
}

// With progress_reward, every turn is also paid the change in the share of
// tests passed; an episode's progress sums to its last share minus its
// first, so quitting at once earns nothing and a partial fix is paid.
func TestProgressReward(t *testing.T) {
	none := sdk.StepInfo{Valid: true, Passed: 0, Total: 4}
	half := sdk.StepInfo{Valid: true, Passed: 2, Total: 4}
	all := sdk.StepInfo{Valid: true, Solved: true, Passed: 4, Total: 4}
	syntax := sdk.StepInfo{Valid: true, ErrorClass: "syntax"} // no test ran
	cases := []struct {
		name  string
		tr    sdk.Transition
		want  float64
		parts map[string]float64
	}{
		{"half the tests start passing", sdk.Transition{Before: none, After: half}, 0.5,
			map[string]float64{"progress": 0.5}},
		{"solving from half", sdk.Transition{Before: half, After: all}, 1.5,
			map[string]float64{"solved": 1, "progress": 0.5}},
		{"an edit that breaks two tests", sdk.Transition{Before: half, After: none}, -0.5,
			map[string]float64{"progress": -0.5}},
		{"a syntax error from half", sdk.Transition{Before: half, After: syntax}, -0.5,
			map[string]float64{"progress": -0.5}},
		{"malformed command keeps the share", sdk.Transition{Before: half, After: sdk.StepInfo{Passed: 2, Total: 4}}, -0.5,
			map[string]float64{"format": -0.5}},
		{"EXIT at once", sdk.Transition{Before: none, After: sdk.StepInfo{Valid: true, Exited: true, Total: 4}, Done: true}, 0,
			map[string]float64{}},
	}
	r := New()
	if err := r.Configure(context.Background(), sdk.Config(`{"progress_reward": 1}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := r.Score(context.Background(), c.tr)
			if err != nil {
				t.Fatal(err)
			}
			if s.Reward != c.want || !reflect.DeepEqual(s.Components, c.parts) {
				t.Errorf("score = %v %v, want %v %v", s.Reward, s.Components, c.want, c.parts)
			}
		})
	}
	// Over an episode the progress telescopes: none -> half -> none -> all.
	episode := []sdk.Transition{{Before: none, After: half}, {Before: half, After: none}, {Before: none, After: all}}
	progress := 0.0
	for _, tr := range episode {
		s, _ := r.Score(context.Background(), tr)
		progress += s.Components[ComponentProgress]
	}
	if progress != 1 {
		t.Errorf("progress over the episode = %v, want 1 (last share minus first)", progress)
	}
}

func TestConfigure(t *testing.T) {
	cases := []struct {
		name    string
		cfg     string
		want    Config
		wantErr string
	}{
		{"empty keeps defaults", "", DefaultConfig, ""},
		{"empty object keeps defaults", "{}", DefaultConfig, ""},
		{"override one", `{"format_penalty": -1}`, Config{SolvedReward: 1, FormatPenalty: -1, MissingExitPenalty: -0.5}, ""},
		{"override all", `{"solved_reward": 2, "format_penalty": 0, "missing_exit_penalty": -0.25, "progress_reward": 0.5}`, Config{2, 0, -0.25, 0.5}, ""},
		{"wrong type", `{"solved_reward": "one"}`, DefaultConfig, "tests: sdk: decode config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New()
			err := r.Configure(context.Background(), sdk.Config(c.cfg))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.cfg != c.want {
				t.Errorf("config = %+v, want %+v", r.cfg, c.want)
			}
		})
	}
}

// Through the protocol: the schema's defaults arrive as numbers and a
// configured penalty changes the score.
func TestOverGRPC(t *testing.T) {
	ctx := context.Background()
	r := sdktest.Reward(t, New())
	s, err := r.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, a := range s.Attributes {
		got[a.Name] = a.Default
		if a.Type != "number" || a.Description == "" {
			t.Errorf("attribute %+v", a)
		}
	}
	want := map[string]any{"solved_reward": 1.0, "format_penalty": -0.5, "missing_exit_penalty": -0.5, "progress_reward": 0.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults = %v, want %v", got, want)
	}
	cfg, _ := sdk.ConfigFrom(map[string]any{"missing_exit_penalty": -2})
	if err := r.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	sc, err := r.Score(ctx, sdk.Transition{After: sdk.StepInfo{Valid: true}, Done: true})
	if err != nil || sc.Reward != -2 || sc.Components[ComponentMissingExit] != -2 {
		t.Errorf("score = %+v, %v", sc, err)
	}
}
