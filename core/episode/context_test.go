package episode

import (
	"reflect"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

func TestContext(t *testing.T) {
	prompt := "Fix the program."
	states := []string{"L 1 x = 1\n***\nfail", "L 1 x = 2\n***\nAll 1 tests passed.\n"}
	actions := []string{"REPL 1 >>>x = 2\n"}
	tests := []struct {
		name    string
		states  []string
		actions []string
		h       History
		want    string
	}{
		{"first turn", states[:1], nil, Full, "Fix the program.\nL 1 x = 1\n***\nfail\n$ "},
		{"full history", states, actions, Full,
			"Fix the program.\nL 1 x = 1\n***\nfail\n$ REPL 1 >>>x = 2\nL 1 x = 2\n***\nAll 1 tests passed.\n$ "},
		{"last state only", states, actions, Last,
			"Fix the program.\nL 1 x = 2\n***\nAll 1 tests passed.\n$ "},
		{"action without its newline", states, []string{"REPL 1 >>>x = 2"}, Full,
			"Fix the program.\nL 1 x = 1\n***\nfail\n$ REPL 1 >>>x = 2\nL 1 x = 2\n***\nAll 1 tests passed.\n$ "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Context(prompt, tt.states, tt.actions, []string{"\n"}, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Context =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	if _, err := Context(prompt, states, nil, nil, Full); err == nil {
		t.Error("mismatched states and actions: want error")
	}
}

func TestEndAction(t *testing.T) {
	tests := []struct {
		action string
		stop   []string
		want   string
	}{
		{"EXIT", nil, "EXIT\n"},
		{"EXIT\n", []string{"\n"}, "EXIT\n"},
		{"def f():\n    pass", []string{"\nEND\n"}, "def f():\n    pass\nEND\n"},
		{"def f():\n    pass\nEND\n", []string{"\nEND\n"}, "def f():\n    pass\nEND\n"},
	}
	for _, tt := range tests {
		if got := EndAction(tt.action, tt.stop); got != tt.want {
			t.Errorf("EndAction(%q, %q) = %q, want %q", tt.action, tt.stop, got, tt.want)
		}
	}
}

func TestParseHistory(t *testing.T) {
	for in, want := range map[string]History{"": Full, "full": Full, "last": Last} {
		if got, err := ParseHistory(in); err != nil || got != want {
			t.Errorf("ParseHistory(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseHistory("some"); err == nil {
		t.Error("ParseHistory(some): want error")
	}
}

// TestIncrements: the increments of an episode, read in order, are the
// full-history context of every turn followed by its action.
func TestIncrements(t *testing.T) {
	prompt := "Fix the program."
	states := []string{"L 1 x = 1\n***\nfail", "L 1 x = 2\n***\nfail again\n", "L 1 x = 3\n***\nAll 1 tests passed.\n"}
	actions := []string{"REPL 1 >>>x = 2", "REPL 1 >>>x = 3\n"}
	stop := []string{"\n"}
	incs, err := Increments(prompt, states, actions, stop)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != len(actions) {
		t.Fatalf("%d increments for %d actions", len(incs), len(actions))
	}
	var read string
	for i, inc := range incs {
		read += inc.Context
		want, err := Context(prompt, states[:i+1], actions[:i], stop, Full)
		if err != nil {
			t.Fatal(err)
		}
		if read != want {
			t.Errorf("turn %d: increments give\n%q\nwant\n%q", i+1, read, want)
		}
		if wantAction := EndAction(actions[i], stop); inc.Action != wantAction {
			t.Errorf("turn %d: action %q, want %q", i+1, inc.Action, wantAction)
		}
		read += inc.Action
	}
	if _, err := Increments(prompt, states[:1], actions, stop); err == nil {
		t.Error("mismatched states and actions: want error")
	}
}

// TestMessages pins the chat mapping and checks that Render gives back
// Context's text, for both tools' kinds of stop strings and histories.
func TestMessages(t *testing.T) {
	u := func(s string) sdk.Message { return sdk.Message{Role: sdk.RoleUser, Content: s} }
	a := func(s string) sdk.Message { return sdk.Message{Role: sdk.RoleAssistant, Content: s} }
	tests := []struct {
		name    string
		prompt  string
		states  []string
		actions []string
		stop    []string
		h       History
		want    []sdk.Message
	}{
		{"first turn", "Fix it.", []string{"L 1 x\n***\nfail"}, nil, []string{"\n"}, Full,
			[]sdk.Message{u("Fix it.\nL 1 x\n***\nfail\n")}},
		{"two actions", "Fix it.\n", []string{"s0\n", "s1", "s2\n"}, []string{"REPL 1 >>>y\n", "EXIT"}, []string{"\n"}, Full,
			[]sdk.Message{u("Fix it.\ns0\n"), a("REPL 1 >>>y"), u("s1\n"), a("EXIT"), u("s2\n")}},
		{"last state only", "Fix it.", []string{"s0", "s1"}, []string{"DELL 1\n"}, []string{"\n"}, Last,
			[]sdk.Message{u("Fix it.\ns1\n")}},
		{"multi-line answer", "Rewrite it.", []string{"s0", "s1"}, []string{"def f():\n    pass\nEXIT\n"}, []string{"\nEXIT\n"}, Full,
			[]sdk.Message{u("Rewrite it.\ns0\n"), a("def f():\n    pass"), u("s1\n")}},
		{"answer cut before its stop", "Rewrite it.", []string{"s0", "s1"}, []string{"def f():"}, []string{"\nEXIT\n"}, Full,
			[]sdk.Message{u("Rewrite it.\ns0\n"), a("def f():"), u("s1\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Messages(tt.prompt, tt.states, tt.actions, tt.stop, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Messages =\n%q\nwant\n%q", got, tt.want)
			}
			want, err := Context(tt.prompt, tt.states, tt.actions, tt.stop, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			if r := Render(got, tt.stop); r != want {
				t.Errorf("Render(Messages) =\n%q\nContext =\n%q", r, want)
			}
		})
	}
	if _, err := Messages("p", []string{"s"}, []string{"EXIT"}, nil, Full); err == nil {
		t.Error("mismatched states and actions: want error")
	}
}

func TestRenderForeignChat(t *testing.T) {
	// A chat from another client: a system message, no trailing newlines,
	// ending with the model's own turn (then no action prompt is added).
	msgs := []sdk.Message{{Role: "system", Content: "Be brief."}, {Role: sdk.RoleUser, Content: "L 1 x"}, {Role: sdk.RoleAssistant, Content: "EXIT"}}
	if got, want := Render(msgs, nil), "Be brief.\nL 1 x\n$ EXIT\n"; got != want {
		t.Errorf("Render = %q, want %q", got, want)
	}
}
