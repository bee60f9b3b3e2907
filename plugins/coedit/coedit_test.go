package coedit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/plugins/coedit/coedittest"
	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/plugins/internal/repairtool"
	"github.com/lathe-ml/lathe/sdk"
)

// addTask's tests are substrings the fake runner looks for.
var addTask = sdk.Task{
	ID:      "add",
	Text:    "Return the sum of a and b.",
	Program: "def add(a, b):\n    retrun a - b\n",
	Tests:   "def add(a, b):\n    return a + b",
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
	ctx := context.Background()
	r := &coedittest.Runner{}
	tool := configured(t, r, map[string]any{"max_turns": 10})
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
	if err != nil {
		t.Fatal(err)
	}
	wantReset := "L 1 def add(a, b):\nL 2     retrun a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n"
	if reset.Observation.Text != wantReset {
		t.Fatalf("reset state =\n%q\nwant\n%q", reset.Observation.Text, wantReset)
	}
	if got := reset.Observation.Info; got != (sdk.StepInfo{Passed: 1, Total: 2, Valid: true, ErrorClass: "assertion"}) {
		t.Fatalf("reset info = %+v", got)
	}
	if len(reset.Stop) != 1 || reset.Stop[0] != "\n" {
		t.Fatalf("stop = %q, want [\"\\n\"]", reset.Stop)
	}

	steps := []struct {
		action string
		text   string
		info   sdk.StepInfo
		done   bool
	}{
		{"REPL 5 >>>x\n",
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nREPL 5: line 5 does not exist (program has 2 lines)\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: false, ErrorClass: "range", Turn: 1}, false},
		{"REPW 2 >>>return >>>x\n",
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nREPW 2: \"return\" does not occur in line 2\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: false, ErrorClass: "noop", Turn: 2}, false},
		{"fix it\n",
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nunknown command \"fix\" (commands: ADDL, REPL, REPW, DELL, EXIT)\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: false, ErrorClass: "unknown-command", Turn: 3}, false},
		{"REPW 2 >>>retrun >>>return\n",
			"L 1 def add(a, b):\nL 2     return a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: true, ErrorClass: "assertion", Turn: 4}, false},
		{"ADDL 3 >>>\n",
			"L 1 def add(a, b):\nL 2     return a - b\nL 3 \n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: true, ErrorClass: "assertion", Turn: 5}, false},
		{"DELL 3\n",
			"L 1 def add(a, b):\nL 2     return a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			sdk.StepInfo{Passed: 1, Total: 2, Valid: true, ErrorClass: "assertion", Turn: 6}, false},
		{"REPL 2 >>>    return a + b\n",
			"L 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n",
			sdk.StepInfo{Passed: 2, Total: 2, Solved: true, Valid: true, Turn: 7}, false},
		{"EXIT\n",
			"L 1 def add(a, b):\nL 2     return a + b\n***\nAll 2 tests passed.\n",
			sdk.StepInfo{Passed: 2, Total: 2, Solved: true, Valid: true, Exited: true, Turn: 8}, true},
	}
	for _, st := range steps {
		t.Run(strings.TrimSpace(st.action), func(t *testing.T) {
			resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: st.action})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Observation.Text != st.text {
				t.Errorf("state =\n%q\nwant\n%q", resp.Observation.Text, st.text)
			}
			if resp.Observation.Info != st.info {
				t.Errorf("info = %+v\nwant %+v", resp.Observation.Info, st.info)
			}
			if resp.Observation.Done != st.done {
				t.Errorf("done = %v, want %v", resp.Observation.Done, st.done)
			}
		})
	}
	if _, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: "DELL 1"}); err == nil ||
		!strings.Contains(err.Error(), "is over after 8 turns") {
		t.Fatalf("step after EXIT: err = %v, want 'is over'", err)
	}
	// Reset, 4 edits; the invalid commands and EXIT ran nothing.
	if n := len(r.Checks()); n != 5 {
		t.Errorf("ran %d checks, want 5", n)
	}
}

// TestKeepFeedback: with keep_feedback, a malformed command's error comes
// with the unchanged program's test feedback, so a model that sees only
// the last state still knows what the tests said.
func TestKeepFeedback(t *testing.T) {
	ctx := context.Background()
	tool := configured(t, &coedittest.Runner{}, map[string]any{"keep_feedback": true})
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: "REPW 2 >>>return >>>x\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := "L 1 def add(a, b):\nL 2     retrun a - b\n***\nREPW 2: \"return\" does not occur in line 2\n" +
		"Test 2 failed: \"return a + b\" not found\nAssertionError\n"
	if resp.Observation.Text != want {
		t.Errorf("state =\n%q\nwant\n%q", resp.Observation.Text, want)
	}
}

func TestTurnLimit(t *testing.T) {
	tests := []struct {
		name     string
		maxTurns int
		actions  []string
		limitAt  int // 1-based turn that ends the episode; 0: not ended
		exitedAt int
	}{
		{"invalid commands use turns", 2, []string{"nonsense", "DELL 99"}, 2, 0},
		{"valid edits use turns", 3, []string{"ADDL 1 >>>#", "DELL 1", "ADDL 1 >>>#"}, 3, 0},
		{"exit on the last turn is an exit", 2, []string{"DELL 1", "EXIT"}, 0, 2},
		{"one turn", 1, []string{"DELL 1"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			tool := configured(t, &coedittest.Runner{}, map[string]any{"max_turns": tt.maxTurns})
			reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range tt.actions {
				resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: a})
				if err != nil {
					t.Fatal(err)
				}
				info, turn := resp.Observation.Info, i+1
				if info.TurnLimit != (turn == tt.limitAt) || info.Exited != (turn == tt.exitedAt) {
					t.Fatalf("turn %d: info %+v, want limit at %d, exit at %d", turn, info, tt.limitAt, tt.exitedAt)
				}
				if resp.Observation.Done != (turn == tt.limitAt || turn == tt.exitedAt) {
					t.Fatalf("turn %d: done = %v", turn, resp.Observation.Done)
				}
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		err  string // substring; "" = accepted
		want func(o repairtool.Options) bool
	}{
		{"empty keeps defaults", ``, "", func(o repairtool.Options) bool {
			return o.MaxTurns == 10 && o.TimeoutS == 5 && o.ShowFeedback && !o.ShowTests && o.ShowInstructions && o.Workers > 0 && o.DemoOrder == "feedback" &&
				len(o.Operators) == 0 && o.MaxCorruptions == 5
		}},
		{"all set", `{"max_turns":4,"timeout_s":2.5,"workers":3,"show_feedback":false,"show_tests":true}`, "", func(o repairtool.Options) bool {
			return o.MaxTurns == 4 && o.TimeoutS == 2.5 && o.Workers == 3 && !o.ShowFeedback && o.ShowTests
		}},
		{"reverse demonstrations", `{"demo_order":"reverse"}`, "", func(o repairtool.Options) bool { return o.DemoOrder == "reverse" }},
		{"unknown demo order", `{"demo_order":"random"}`, `coedit: configure: demo_order must be "feedback" or "reverse", got "random"`, nil},
		{"zero turns", `{"max_turns":0}`, "coedit: configure: max_turns must be at least 1, got 0", nil},
		{"negative workers", `{"workers":-1}`, "coedit: configure: workers must be 0 (one per core) or more, got -1", nil},
		{"zero timeout", `{"timeout_s":0}`, "coedit: configure: timeout_s must be positive, got 0", nil},
		{"restricted operators", `{"operators":["typo","drop_return"],"max_corruptions":1}`, "", func(o repairtool.Options) bool {
			return strings.Join(o.Operators, ",") == "typo,drop_return" && o.MaxCorruptions == 1
		}},
		{"unknown operator", `{"operators":["typo","flip_bits"]}`, `coedit: configure: operators names an unknown corruption operator "flip_bits" (known: delete_line,`, nil},
		{"too many corruptions", `{"max_corruptions":6}`, "coedit: configure: max_corruptions must be between 1 and 5, got 6", nil},
		{"zero corruptions", `{"max_corruptions":0}`, "coedit: configure: max_corruptions must be between 1 and 5, got 0", nil},
		{"recovery", `{"recovery":0.25}`, "", func(o repairtool.Options) bool { return o.Recovery == 0.25 }},
		{"recovery above 1", `{"recovery":1.5}`, "coedit: configure: recovery must be between 0 and 1, got 1.5", nil},
		{"wrong type", `{"max_turns":"ten"}`, "coedit: configure: sdk: decode config", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := NewWithRunner(&coedittest.Runner{})
			err := tool.Configure(context.Background(), sdk.Config(tt.cfg))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Configure(%s) = %v, want %q", tt.cfg, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o := tool.Options(); !tt.want(o) {
				t.Fatalf("options = %+v", o)
			}
		})
	}
}

func TestSchemaMatchesOptions(t *testing.T) {
	s, err := NewWithRunner(nil).Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	defaults := map[string]any{}
	for _, a := range s.Attributes {
		names = append(names, a.Name)
		defaults[a.Name] = a.Default
	}
	if got := strings.Join(names, ","); got != "max_turns,timeout_s,workers,show_feedback,show_tests,show_instructions,demo_order,rename,operators,max_corruptions,recovery,keep_feedback" {
		t.Fatalf("attributes = %s", got)
	}
	// The schema's defaults, fed back through Configure, are the defaults.
	cfg, _ := sdk.ConfigFrom(defaults)
	tool := NewWithRunner(nil)
	if err := tool.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("configure with the schema's defaults: %v", err)
	}
	if o := tool.Options(); o.MaxTurns != 10 || o.TimeoutS != 5 || !o.ShowFeedback {
		t.Fatalf("options from schema defaults = %+v", o)
	}
}

func TestFeedbackAndPrompt(t *testing.T) {
	tests := []struct {
		name       string
		cfg        map[string]any
		state      string
		promptHas  []string
		promptLack []string
	}{
		{"full feedback", map[string]any{},
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			[]string{"Task: Return the sum of a and b.\n", "REPW n >>>old >>>new", "write EXIT"},
			[]string{"Tests:"}},
		{"counts only, tests shown", map[string]any{"show_feedback": false, "show_tests": true},
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\n1 of 2 tests passed.\n",
			[]string{"Tests:\ndef add(a, b):\n    return a + b\n"}, nil},
		{"no instructions", map[string]any{"show_instructions": false},
			"L 1 def add(a, b):\nL 2     retrun a - b\n***\nTest 2 failed: \"return a + b\" not found\nAssertionError\n",
			[]string{"Repair the Python program below so that its tests pass.\nTask: Return the sum of a and b.\n"},
			[]string{"REPW n", "EXIT", "Tests:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool := configured(t, &coedittest.Runner{}, tt.cfg)
			reset, err := tool.Reset(context.Background(), sdk.ResetRequest{Task: addTask})
			if err != nil {
				t.Fatal(err)
			}
			if reset.Observation.Text != tt.state {
				t.Errorf("state = %q, want %q", reset.Observation.Text, tt.state)
			}
			for _, s := range tt.promptHas {
				if !strings.Contains(reset.Prompt, s) {
					t.Errorf("prompt lacks %q:\n%s", s, reset.Prompt)
				}
			}
			for _, s := range tt.promptLack {
				if strings.Contains(reset.Prompt, s) {
					t.Errorf("prompt has %q:\n%s", s, reset.Prompt)
				}
			}
		})
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	r := &coedittest.Runner{}
	tool := configured(t, r, nil)
	task := addTask
	task.Reference = "def add(a, b):\n    return a + b\n"
	task.TimeoutS = 1.5
	a, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	if a.Session == b.Session || tool.Sessions() != 2 {
		t.Fatalf("sessions %q and %q, %d open", a.Session, b.Session, tool.Sessions())
	}
	c := r.Checks()[0]
	if c.Reference != task.Reference || c.Timeout != 1500*time.Millisecond || c.Tests != task.Tests {
		t.Fatalf("check = %+v: the task's reference, tests and timeout must reach the sandbox", c)
	}
	// Sessions are independent.
	if _, err := tool.Step(ctx, sdk.StepRequest{Session: a.Session, Action: "DELL 1"}); err != nil {
		t.Fatal(err)
	}
	resp, err := tool.Step(ctx, sdk.StepRequest{Session: b.Session, Action: "REPW 2 >>>a - b >>>a + b"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Observation.Text, "L 1 def add(a, b):\nL 2     retrun a + b\n") {
		t.Fatalf("session b saw session a's edit:\n%s", resp.Observation.Text)
	}
	if err := tool.Close(ctx, a.Session); err != nil {
		t.Fatal(err)
	}
	if err := tool.Close(ctx, "never-opened"); err != nil {
		t.Fatalf("closing an unknown session: %v", err)
	}
	if _, err := tool.Step(ctx, sdk.StepRequest{Session: a.Session, Action: "EXIT"}); err == nil ||
		err.Error() != fmt.Sprintf("coedit: step: unknown session %q", a.Session) {
		t.Fatalf("step on a closed session: %v", err)
	}
	if tool.Sessions() != 1 {
		t.Fatalf("%d sessions open, want 1", tool.Sessions())
	}
}

func TestStepBatch(t *testing.T) {
	ctx := context.Background()
	r := &coedittest.Runner{Delay: 20 * time.Millisecond}
	tool := configured(t, r, nil)
	const n = 12
	var reqs []sdk.StepRequest
	for i := 0; i < n; i++ {
		reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
		if err != nil {
			t.Fatal(err)
		}
		// Distinct programs per session, so no verdict comes from the cache.
		reqs = append(reqs, sdk.StepRequest{Session: reset.Session, Action: fmt.Sprintf("ADDL 1 >>># %d", i)})
	}
	// Two more actions for session 0: they must apply after its first, in order.
	reqs = append(reqs,
		sdk.StepRequest{Session: reqs[0].Session, Action: "DELL 1"},
		sdk.StepRequest{Session: reqs[0].Session, Action: "REPL 2 >>>    return a + b"})
	start := time.Now()
	resps, err := tool.StepBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if len(resps) != len(reqs) {
		t.Fatalf("%d responses for %d requests", len(resps), len(reqs))
	}
	for i := 0; i < n; i++ {
		want := fmt.Sprintf("L 1 # %d\n", i)
		if !strings.HasPrefix(resps[i].Observation.Text, want) {
			t.Fatalf("response %d = %q, want prefix %q", i, resps[i].Observation.Text, want)
		}
	}
	if got := resps[n+1].Observation; !got.Info.Solved || got.Info.Turn != 3 {
		t.Fatalf("session 0 after three ordered steps: %+v\n%s", got.Info, got.Text)
	}
	if r.Peak() < 2 || elapsed > time.Duration(n)*r.Delay {
		t.Fatalf("batch ran serially: peak %d concurrent checks, %v for %d", r.Peak(), elapsed, len(reqs))
	}
	// An unknown session fails the batch, naming it.
	_, err = tool.StepBatch(ctx, []sdk.StepRequest{{Session: "nope", Action: "EXIT"}})
	if err == nil || !strings.Contains(err.Error(), `unknown session "nope"`) {
		t.Fatalf("batch with an unknown session: %v", err)
	}
}

// TestConcurrentUse runs Reset, Step, StepBatch and Close from many
// goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	tool := configured(t, &coedittest.Runner{}, map[string]any{"max_turns": 50})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: addTask})
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < 20; i++ {
				a := sdk.StepRequest{Session: reset.Session, Action: fmt.Sprintf("ADDL 1 >>># %d %d", g, i)}
				if i%2 == 0 {
					_, err = tool.Step(ctx, a)
				} else {
					_, err = tool.StepBatch(ctx, []sdk.StepRequest{a})
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- tool.Close(ctx, reset.Session)
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tool.Sessions(); n != 0 {
		t.Fatalf("%d sessions left open", n)
	}
}

// TestDemonstrate replays every demonstration through the tool: each must
// start failing and end solved at EXIT.
func TestDemonstrate(t *testing.T) {
	ctx := context.Background()
	task := sdk.Task{
		ID:        "count_pairs",
		Text:      "Count pairs i < j with arr[i] + arr[j] == target.",
		Reference: "def count_pairs(arr, target):\n    count = 0\n    n = len(arr)\n    for i in range(n):\n        for j in range(i + 1, n):\n            if arr[i] + arr[j] == target:\n                count += 1\n    return count\n",
		Tests:     "assert count_pairs([1, 2, 3], 4) == 1\nassert count_pairs([], 1) == 0",
	}
	tool := configured(t, &coedittest.Runner{}, map[string]any{"max_turns": 10})
	demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Seed: 3, N: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(demos) < 15 {
		t.Fatalf("%d demonstrations, want at least 15", len(demos))
	}
	for i, d := range demos {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if last := d.Actions[len(d.Actions)-1]; last != "EXIT" {
				t.Fatalf("trace ends with %q, want EXIT", last)
			}
			if len(d.Actions) > 10 {
				t.Skipf("%d actions exceed the turn budget", len(d.Actions))
			}
			obs := replay(t, tool, task, d)
			for k, o := range obs {
				if !o.Info.Valid {
					t.Fatalf("action %q invalid: %s", d.Actions[k], o.Text)
				}
			}
			if last := obs[len(obs)-1]; !last.Info.Solved || !last.Info.Exited || !last.Done {
				t.Fatalf("trace %q ends unsolved:\n%s", d.Actions, last.Text)
			}
		})
	}
}

func TestEditorMatchesDSL(t *testing.T) {
	// Every line the DSL accepts is an action; what follows the first
	// newline is ignored.
	lines := []string{"x = 1"}
	next, exit, err := editor{}.Edit(lines, "REPL 1 >>>x = 2\nDELL 1\n")
	if err != nil || exit || len(next) != 1 || next[0] != "x = 2" {
		t.Fatalf("Edit = %q, %v, %v", next, exit, err)
	}
	if _, exit, err := (editor{}).Edit(lines, dsl.Format(dsl.Command{Op: dsl.Exit})); err != nil || !exit {
		t.Fatalf("EXIT: exit=%v err=%v", exit, err)
	}
}

func TestNoRunner(t *testing.T) {
	tool := NewWithRunner(nil)
	_, err := tool.Reset(context.Background(), sdk.ResetRequest{Task: addTask})
	if err == nil || err.Error() != "coedit: reset add: start sandbox: nil sandbox runner" {
		t.Fatalf("Reset without a sandbox: %v", err)
	}
}

// TestDemonstrateRecovery: with recovery = 1 every one-typo demonstration
// whose repair is a REPW comes with a copy that starts with that REPW on a
// line without the word, learned from the second action on; the tool
// answers the misplaced command with an error naming the line that holds
// the word, and the rest of the copy still repairs the program. With
// recovery = 0 there are no copies.
func TestDemonstrateRecovery(t *testing.T) {
	ctx := context.Background()
	task := sdk.Task{
		ID:        "count_pairs",
		Reference: "def count_pairs(arr, target):\n    count = 0\n    n = len(arr)\n    for i in range(n):\n        for j in range(i + 1, n):\n            if arr[i] + arr[j] == target:\n                count += 1\n    return count\n",
		Tests:     "assert count_pairs([1, 2, 3], 4) == 1\nassert count_pairs([], 1) == 0",
	}
	for _, recovery := range []float64{0, 1} {
		t.Run(fmt.Sprint("recovery=", recovery), func(t *testing.T) {
			tool := configured(t, &coedittest.Runner{}, map[string]any{"max_turns": 10, "operators": []any{"typo"},
				"max_corruptions": 1.0, "recovery": recovery})
			demos, err := tool.Demonstrate(ctx, sdk.DemonstrateRequest{Task: task, Seed: 3, N: 8})
			if err != nil {
				t.Fatal(err)
			}
			repw, copies := 0, 0
			for i, d := range demos {
				first, err := dsl.Parse(d.Actions[0])
				if err != nil {
					t.Fatal(err)
				}
				if d.Learn == 0 {
					if first.Op == dsl.ReplaceWord {
						repw++
					}
					continue
				}
				copies++
				if d.Learn != 1 || len(d.Actions) < 3 {
					t.Fatalf("demonstration %d: learn %d, actions %q; want one misplaced REPW first", i, d.Learn, d.Actions)
				}
				fix, _ := dsl.Parse(d.Actions[1])
				if first.Op != dsl.ReplaceWord || fix.Op != dsl.ReplaceWord || fix.Old != first.Old || fix.Text != first.Text || fix.Line == first.Line {
					t.Fatalf("demonstration %d: %q is not the fix %q on another line", i, d.Actions[0], d.Actions[1])
				}
				obs := replay(t, tool, task, d)
				hint := fmt.Sprintf("(it does in line %d)", fix.Line)
				if obs[0].Info.Valid || !strings.Contains(obs[0].Text, hint) {
					t.Fatalf("demonstration %d: the misplaced %q got %q, want an error with %q", i, d.Actions[0], obs[0].Text, hint)
				}
				if last := obs[len(obs)-1]; !last.Info.Solved || !last.Done {
					t.Fatalf("demonstration %d %q ends unsolved:\n%s", i, d.Actions, last.Text)
				}
			}
			if repw == 0 {
				t.Fatal("no demonstration repairs with a REPW")
			}
			if want := int(recovery) * repw; copies != want {
				t.Errorf("%d misplaced copies of %d REPW demonstrations, want %d", copies, repw, want)
			}
		})
	}
}

// replay plays demonstration d of task through tool from its broken
// program, which must fail its tests, and returns the state after each
// action.
func replay(t *testing.T, tool *Tool, task sdk.Task, d sdk.Demonstration) []sdk.Observation {
	t.Helper()
	ctx := context.Background()
	task.Program = d.Program
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		t.Fatal(err)
	}
	if reset.Observation.Info.Solved {
		t.Fatalf("demonstration starts solved:\n%s", d.Program)
	}
	var obs []sdk.Observation
	for _, a := range d.Actions {
		resp, err := tool.Step(ctx, sdk.StepRequest{Session: reset.Session, Action: a + "\n"})
		if err != nil {
			t.Fatal(err)
		}
		obs = append(obs, resp.Observation)
	}
	return obs
}
