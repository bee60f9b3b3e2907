package rewrite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/plugins/coedit/coedittest"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/sdk"
)

var addTask = sdk.Task{
	ID:      "add",
	Text:    "Return the sum of a and b.",
	Program: "def add(a, b):\n    retrun a - b\n",
	Tests:   "def add(a, b):\n    return a + b",
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		name       string
		completion string
		want       []string
		wantErr    bool
	}{
		{"program then EXIT", "def f():\n    return 1\nEXIT\n", []string{"def f():", "    return 1"}, false},
		{"trailing blank lines dropped", "x = 1\n\n\nEXIT\n", []string{"x = 1"}, false},
		{"crlf and spaces after EXIT", "x = 1\r\nEXIT  \r\n", []string{"x = 1"}, false},
		{"text after EXIT ignored", "x = 1\nEXIT\nprint(2)\n", []string{"x = 1"}, false},
		{"indentation kept", "\tif x:\n\t\tpass  \nEXIT\n", []string{"\tif x:", "\t\tpass  "}, false},
		{"EXIT inside a line is code", "EXIT_CODE = 3\nsys.exit(EXIT)\nEXIT\n", []string{"EXIT_CODE = 3", "sys.exit(EXIT)"}, false},
		{"empty program", "EXIT\n", nil, false},
		{"cut off before EXIT", "def f():\n    return", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAnswer(tt.completion)
			if tt.wantErr {
				var e *dsl.Error
				if !errors.As(err, &e) || e.Class != dsl.ClassParse {
					t.Fatalf("ParseAnswer(%q) error = %v, want a parse error", tt.completion, err)
				}
				return
			}
			if err != nil || strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(got) != len(tt.want) {
				t.Fatalf("ParseAnswer(%q) = %q, %v; want %q", tt.completion, got, err, tt.want)
			}
			if back, err := ParseAnswer(FormatAnswer(dsl.JoinProgram(got))); err != nil || strings.Join(back, "\n") != strings.Join(got, "\n") {
				t.Fatalf("FormatAnswer round trip: %q, %v", back, err)
			}
		})
	}
}

func configured(t *testing.T, r *coedittest.Runner, cfg map[string]any) *Tool {
	t.Helper()
	tool := NewWithRunner(r)
	c, err := sdk.ConfigFrom(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Configure(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return tool
}

func TestEpisode(t *testing.T) {
	tests := []struct {
		name   string
		action string
		text   string
		info   sdk.StepInfo
	}{
		{"solved", "def add(a, b):\n    return a + b\nEXIT\n",
			"L 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n",
			sdk.StepInfo{Passed: 2, Total: 2, Solved: true, Valid: true, Exited: true, Turn: 1}},
		{"still wrong", "def add(a, b):\n    return a - b\nEXIT\n",
			"L 1 def add(a, b):\nL 2     return a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: true, ErrorClass: "assertion", Exited: true, Turn: 1}},
		{"no EXIT line", "def add(a, b):\n    return a + b",
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nthe answer has no line EXIT after the program; the program is unchanged\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: false, ErrorClass: "parse", Exited: true, Turn: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			// max_turns is accepted (swappable with coedit) but one answer ends it.
			tool := configured(t, &coedittest.Runner{}, map[string]any{"max_turns": 10})
			reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
			if err != nil {
				t.Fatal(err)
			}
			if len(reset.Stop) != 1 || reset.Stop[0] != "\nEXIT\n" {
				t.Fatalf("stop = %q", reset.Stop)
			}
			if !strings.Contains(reset.Prompt, "then a line containing only EXIT") || !strings.Contains(reset.Prompt, addTask.Text) {
				t.Fatalf("prompt does not say how an answer ends:\n%s", reset.Prompt)
			}
			resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: tt.action})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Observation.Text != tt.text {
				t.Errorf("state =\n%q\nwant\n%q", resp.Observation.Text, tt.text)
			}
			if resp.Observation.Info != tt.info || !resp.Observation.Done {
				t.Errorf("info = %+v done=%v\nwant %+v", resp.Observation.Info, resp.Observation.Done, tt.info)
			}
			if _, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: tt.action}); err == nil {
				t.Fatal("a second answer was accepted")
			}
		})
	}
}

// TestSwappable checks that coedit and rewrite take the same configuration
// and give the same first state, so an experiment swaps them by name only.
func TestSwappable(t *testing.T) {
	ctx := context.Background()
	cfg := map[string]any{"max_turns": 4, "timeout_s": 2, "workers": 2, "show_feedback": false, "show_tests": true}
	co := coedit.NewWithRunner(&coedittest.Runner{})
	rw := NewWithRunner(&coedittest.Runner{})
	cs, _ := co.Schema(ctx)
	rs, _ := rw.Schema(ctx)
	if fmt.Sprint(cs.Attributes) != fmt.Sprint(rs.Attributes) {
		t.Fatalf("schemas differ:\n%v\n%v", cs.Attributes, rs.Attributes)
	}
	c, _ := sdk.ConfigFrom(cfg)
	for _, tool := range []*Tool{co, rw} {
		if err := tool.Configure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	a, err := co.Reset(ctx, sdk.ResetRequest{Task: addTask})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rw.Reset(ctx, sdk.ResetRequest{Task: addTask})
	if err != nil {
		t.Fatal(err)
	}
	if a.Observation != b.Observation {
		t.Fatalf("first states differ:\n%+v\n%+v", a.Observation, b.Observation)
	}
}

func TestDemonstrate(t *testing.T) {
	ctx := context.Background()
	task := sdk.Task{
		ID:        "clamp",
		Reference: "def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n    return x\n",
		Tests:     "assert clamp(5, 0, 3) == 3\nassert clamp(-1, 0, 3) == 0",
	}
	tool := configured(t, &coedittest.Runner{}, nil)
	demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Seed: 1, N: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(demos) < 6 {
		t.Fatalf("%d demonstrations, want at least 6", len(demos))
	}
	for i, d := range demos {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if len(d.Actions) != 1 || d.Actions[0] != task.Reference+"EXIT\n" {
				t.Fatalf("actions = %q, want the reference then EXIT", d.Actions)
			}
			task := task
			task.Program = d.Program
			reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: d.Actions[0]})
			if err != nil {
				t.Fatal(err)
			}
			if reset.Observation.Info.Solved || !resp.Observation.Info.Solved || !resp.Observation.Done {
				t.Fatalf("from %+v to %+v", reset.Observation.Info, resp.Observation.Info)
			}
		})
	}
}

// A one-shot tool has no state after its action to continue from: a
// continuation request (DAgger) is refused with a reason.
func TestDemonstrateContinuation(t *testing.T) {
	tool := configured(t, &coedittest.Runner{}, nil)
	task := sdk.Task{ID: "clamp", Program: "def clamp(x):\n    return y\n", Reference: "def clamp(x):\n    return x\n", Tests: "assert clamp(1) == 1"}
	_, err := tool.Demonstrate(context.Background(), sdk.DemonstrateRequest{Task: task, Continuation: true})
	if err == nil || !strings.Contains(err.Error(), "answers in one") {
		t.Fatalf("continuation: %v, want a refusal naming the one-shot tool", err)
	}
}

// FuzzAnswer checks that ParseAnswer never panics, that a parsed program
// survives FormatAnswer and ParseAnswer unchanged, and that the program
// never contains the terminator line.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{"x = 1\nEXIT\n", "EXIT", "\r\nEXIT \r\n", "a\n\nEXIT\nb", "no end", "EXIT_X\nEXIT\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := ParseAnswer(s)
		if err != nil {
			return
		}
		for _, l := range lines {
			if strings.TrimRight(l, " \t\r") == Terminator {
				t.Fatalf("program of %q keeps the terminator line", s)
			}
		}
		back, err := ParseAnswer(FormatAnswer(dsl.JoinProgram(lines)))
		if err != nil || strings.Join(back, "\n") != strings.Join(lines, "\n") || len(back) != len(lines) {
			t.Fatalf("round trip of %q: %q -> %q, %v", s, lines, back, err)
		}
	})
}
