package episode

import "testing"

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
