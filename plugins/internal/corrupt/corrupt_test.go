package corrupt

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/plugins/coedit/dsl"
	"github.com/lathe-ml/lathe/sdk"
)

// applyDSL is an applier written from docs/design.md §4, independent of
// Edit.apply, so the tests check the rendered commands, not the structs.
func applyDSL(src string, cmds []string) (string, error) {
	trailing := strings.HasSuffix(src, "\n")
	lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	for i, c := range cmds {
		if c == "EXIT" {
			if i != len(cmds)-1 {
				return "", fmt.Errorf("EXIT before the end")
			}
			break
		}
		head, text, hasText := strings.Cut(c, ">>>")
		f := strings.Fields(head)
		if len(f) != 2 {
			return "", fmt.Errorf("command %q: bad head", c)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return "", fmt.Errorf("command %q: %v", c, err)
		}
		switch f[0] {
		case "ADDL":
			if !hasText || n < 1 || n > len(lines)+1 {
				return "", fmt.Errorf("command %q: bad ADDL on %d lines", c, len(lines))
			}
			lines = append(lines[:n-1], append([]string{text}, lines[n-1:]...)...)
		case "REPL":
			if !hasText || n < 1 || n > len(lines) {
				return "", fmt.Errorf("command %q: bad REPL", c)
			}
			lines[n-1] = text
		case "DELL":
			if hasText || n < 1 || n > len(lines) {
				return "", fmt.Errorf("command %q: bad DELL", c)
			}
			lines = append(lines[:n-1], lines[n:]...)
		case "REPW":
			old, nw, ok := strings.Cut(text, " >>>")
			if !ok || n < 1 || n > len(lines) || !strings.Contains(lines[n-1], old) || old == "" {
				return "", fmt.Errorf("command %q: bad REPW on %q", c, lines[n-1])
			}
			lines[n-1] = strings.Replace(lines[n-1], old, nw, 1)
		default:
			return "", fmt.Errorf("command %q: unknown", c)
		}
	}
	out := strings.Join(lines, "\n")
	if trailing {
		out += "\n"
	}
	return out, nil
}

const sample = `def count_pairs(arr, target):
    """Count pairs (i < j) with arr[i] + arr[j] == target."""
    count = 0
    n = len(arr)
    for i in range(n):
        for j in range(i + 1, n):
            if arr[i] + arr[j] == target:  # a pair
                count += 1
    return count
`

func TestOperators(t *testing.T) {
	for _, op := range operatorTable {
		t.Run(op.name, func(t *testing.T) {
			applied := 0
			for s := uint64(0); s < 200; s++ {
				r := rand.New(rand.NewPCG(s, 7))
				p := parseProgram(sample)
				e, ok := op.apply(r, &p, taskDonors(sample))
				if !ok {
					continue
				}
				applied++
				broken := p.String()
				if broken == sample {
					continue
				}
				got, err := applyDSL(broken, []string{e.Command(), "EXIT"})
				if err != nil {
					t.Fatalf("seed %d: %v\nbroken:\n%s", s, err, broken)
				}
				if got != sample {
					t.Fatalf("seed %d: undo %q gives\n%s\nwant\n%s", s, e.Command(), got, sample)
				}
				// Only the changed line differs (line ops aside): formatting
				// elsewhere is kept byte for byte.
				if e.Op == "REPW" || e.Op == "REPL" {
					bl, sl := strings.Split(broken, "\n"), strings.Split(sample, "\n")
					for i := range sl {
						if i != e.Line-1 && bl[i] != sl[i] {
							t.Fatalf("seed %d: line %d changed too: %q", s, i+1, bl[i])
						}
					}
				}
			}
			if applied < 100 {
				t.Errorf("operator applied %d/200 times on the sample", applied)
			}
		})
	}
}

// TestOperatorExamples pins what each token operator does on one line.
func TestOperatorExamples(t *testing.T) {
	tests := []struct {
		op, src, undo string
		// want lists acceptable corrupted lines ("" = any change).
		want []string
	}{
		{"swap_operator", "x = a < b\n", "REPW 1 >>>", []string{"x = a <= b\n", "x = a > b\n", "x = a >= b\n"}},
		{"off_by_one", "y = z[3]\n", "REPW 1 >>>", []string{"y = z[4]\n", "y = z[2]\n"}},
		{"drop_return", "def f(v):\n    return v * 2\n", "REPW 2 >>>v >>>return v", []string{"def f(v):\n    v * 2\n"}},
		{"swap_arguments", "z = pow(base, exp)\n", "REPW 1 >>>exp, base >>>base, exp", []string{"z = pow(exp, base)\n"}},
		{"wrong_variable", "s = t\n", "REPW 1 >>>", []string{"t = t\n", "s = s\n"}},
		{"delete_line", "a = 1\nb = 2\n", "ADDL ", nil},
		{"insert_line", "a = 1\nb = 2\n", "DELL ", nil},
		{"replace_line", "a = 1\nb = 2\n", "REPL ", nil},
		{"typo", "total = 1\n", "REPW 1 >>>", nil},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			var op operator
			for _, o := range operatorTable {
				if o.name == tc.op {
					op = o
				}
			}
			for s := uint64(0); s < 20; s++ {
				p := parseProgram(tc.src)
				e, ok := op.apply(rand.New(rand.NewPCG(s, 1)), &p, genericDonors)
				if !ok {
					t.Fatalf("seed %d: operator did not apply", s)
				}
				got := p.String()
				if tc.want != nil && !contains(tc.want, got) {
					t.Fatalf("seed %d: corrupted %q, want one of %q", s, got, tc.want)
				}
				if !strings.HasPrefix(e.Command(), tc.undo) {
					t.Fatalf("seed %d: undo %q, want prefix %q", s, e.Command(), tc.undo)
				}
				if back, err := applyDSL(got, []string{e.Command()}); err != nil || back != tc.src {
					t.Fatalf("seed %d: undo gives %q, %v", s, back, err)
				}
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestUndoLinePrefersREPW(t *testing.T) {
	tests := []struct {
		orig, corr, want string
	}{
		{"    return tc[m][n]", "    retrun tc[m][n]", "REPW 1 >>>retrun >>>return"},
		{"x = a + b + a", "x = a + b - a", "REPW 1 >>>- >>>+"},
		// "1" occurs before the changed "2": the span widens to be unique.
		{"y = f(1, 1)", "y = f(1, 2)", "REPW 1 >>>2 >>>1"},
		{"y = x1 + 2", "y = x1 + 1", "REPW 1 >>>+ 1 >>>+ 2"},
		{"if a: pass", "if a>>>b: pass", "REPL 1 >>>if a: pass"},
	}
	for _, tc := range tests {
		t.Run(tc.corr, func(t *testing.T) {
			got := undoLine(1, tc.orig, tc.corr).Command()
			if got != tc.want {
				t.Fatalf("undoLine = %q, want %q", got, tc.want)
			}
			if back, err := applyDSL(tc.corr, []string{got}); err != nil || back != tc.orig {
				t.Fatalf("applied: %q, %v", back, err)
			}
		})
	}
}

func TestSimplify(t *testing.T) {
	tests := []struct {
		name string
		in   []Edit
		want []string
	}{
		{"add then fix", []Edit{{Op: "ADDL", Line: 3, Text: "  for i in range(m):"}, {Op: "REPW", Line: 3, Old: "m", New: "n"}},
			[]string{"ADDL 3 >>>  for i in range(n):"}},
		{"replace then replace", []Edit{{Op: "REPL", Line: 2, Text: "a"}, {Op: "REPL", Line: 2, Text: "b"}}, []string{"REPL 2 >>>b"}},
		{"fix then delete", []Edit{{Op: "REPW", Line: 4, Old: "x", New: "y"}, {Op: "DELL", Line: 4}}, []string{"DELL 4"}},
		{"add then delete", []Edit{{Op: "DELL", Line: 1}, {Op: "ADDL", Line: 5, Text: "z"}, {Op: "DELL", Line: 5}}, []string{"DELL 1"}},
		{"other lines kept", []Edit{{Op: "ADDL", Line: 3, Text: "q"}, {Op: "REPW", Line: 4, Old: "x", New: "y"}},
			[]string{"ADDL 3 >>>q", "REPW 4 >>>x >>>y"}},
		{"two words of one line kept", []Edit{{Op: "REPW", Line: 1, Old: "a", New: "b"}, {Op: "REPW", Line: 1, Old: "c", New: "d"}},
			[]string{"REPW 1 >>>a >>>b", "REPW 1 >>>c >>>d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range Simplify(tc.in) {
				got = append(got, e.Command())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Simplify = %q, want %q", got, tc.want)
			}
		})
	}
}

// failsIfChanged stands in for the sandbox: any change breaks the program.
func failsIfChanged(ref string) CheckFunc {
	return func(_ context.Context, p string) (Outcome, error) { return Outcome{Failing: p != ref}, nil }
}

func TestDemonstrationsRoundTrip(t *testing.T) {
	task := sdk.Task{ID: "t1", Reference: sample, Tests: "assert count_pairs([1, 2, 3], 4) == 1"}
	for _, tc := range []struct {
		style Style
		order Order
	}{{Coedit, FollowFeedback}, {Coedit, ReverseCorruptions}, {Rewrite, FollowFeedback}} {
		style, order := tc.style, tc.order
		t.Run(fmt.Sprint(style, order), func(t *testing.T) {
			demos, err := Demonstrations(context.Background(), task, 3, 50, Recipe{Style: style, Order: order}, failsIfChanged(sample))
			if err != nil {
				t.Fatal(err)
			}
			if len(demos) != 50 {
				t.Fatalf("got %d demos, want 50", len(demos))
			}
			again, _ := Demonstrations(context.Background(), task, 3, 50, Recipe{Style: style, Order: order}, failsIfChanged(sample))
			if !reflect.DeepEqual(demos, again) {
				t.Fatal("same seed gave different demonstrations")
			}
			other, _ := Demonstrations(context.Background(), task, 4, 50, Recipe{Style: style, Order: order}, failsIfChanged(sample))
			if reflect.DeepEqual(demos, other) {
				t.Fatal("different seeds gave identical demonstrations")
			}
			for i, d := range demos {
				if n := len(d.Corruptions); n < 1 || n > MaxCorruptions {
					t.Fatalf("demo %d: %d corruptions", i, n)
				}
				if style == Rewrite {
					if len(d.Actions) != 1 || d.Actions[0] != sample {
						t.Fatalf("demo %d: rewrite actions %q", i, d.Actions)
					}
					continue
				}
				if d.Actions[len(d.Actions)-1] != "EXIT" || len(d.Actions) > len(d.Corruptions)+1 {
					t.Fatalf("demo %d: actions %q for corruptions %q", i, d.Actions, d.Corruptions)
				}
				got, err := applyDSL(d.Program, d.Actions)
				if err != nil || got != sample {
					t.Fatalf("demo %d: %v\nactions %q\ngot\n%s", i, err, d.Actions, got)
				}
			}
		})
	}
}

func TestDemonstrationsKeepOnlyFailing(t *testing.T) {
	// A checker that calls every program containing "return" passing keeps
	// only corruptions that removed or broke every return.
	failing := func(_ context.Context, p string) (Outcome, error) {
		return Outcome{Failing: !strings.Contains(p, "return count")}, nil
	}
	demos, err := Demonstrations(context.Background(), sdk.Task{ID: "x", Reference: sample}, 1, 10, Recipe{Style: Coedit, Order: FollowFeedback}, failing)
	if err != nil {
		t.Fatal(err)
	}
	if len(demos) == 0 {
		t.Fatal("no demonstrations")
	}
	for _, d := range demos {
		if strings.Contains(d.Program, "return count") {
			t.Fatalf("kept a passing program:\n%s", d.Program)
		}
	}
	alwaysFails := func(context.Context, string) (Outcome, error) { return Outcome{Failing: true}, nil }
	if ds, err := Demonstrations(context.Background(), sdk.Task{ID: "x", Reference: sample}, 1, 5, Recipe{Style: Coedit, Order: FollowFeedback}, alwaysFails); err != nil || len(ds) != 0 {
		t.Fatalf("a failing reference gave %d demonstrations, %v", len(ds), err)
	}
	if _, err := Demonstrations(context.Background(), sdk.Task{ID: "empty"}, 1, 1, Recipe{Style: Coedit, Order: FollowFeedback}, failing); err == nil {
		t.Fatal("no error for a task without code")
	}
}

// mbppCode yields the reference code of every MBPP record, CRLF normalised
// as the loader does; it skips the test when the dataset is absent.
func mbppCode(t testing.TB) []string {
	path := filepath.Join("..", "..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl")
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		path = filepath.Join(d, "mbpp", "mbpp.jsonl")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("MBPP not available (%v); set LATHE_DATASETS", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Code string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, Canonical(rec.Code))
	}
	return out
}

func TestRoundTripMBPP(t *testing.T) {
	codes := mbppCode(t)
	per := 5
	if os.Getenv("LATHE_LONG") != "" {
		per = 100
	}
	hist := map[string]int{}
	for i, code := range codes {
		task := sdk.Task{ID: fmt.Sprint(i), Reference: code}
		demos, err := Demonstrations(context.Background(), task, 11, per, Recipe{Style: Coedit, Order: FollowFeedback}, failsIfChanged(code))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range demos {
			for _, o := range d.Corruptions {
				hist[o]++
			}
			got, err := applyDSL(d.Program, d.Actions)
			if err == nil {
				err = applyWithDSLPackage(d.Program, d.Actions, code)
			}
			if err != nil || got != code {
				t.Fatalf("task %d: %v\nprogram:\n%s\nactions %q\ngot:\n%s\nwant:\n%s", i, err, d.Program, d.Actions, got, code)
			}
		}
		if toks := Tokenize(code); join(toks) != code {
			t.Fatalf("task %d: tokens do not join back", i)
		}
	}
	for _, name := range Operators() {
		if hist[name] == 0 {
			t.Errorf("operator %s never applied on MBPP", name)
		}
	}
	t.Logf("operator histogram: %v", hist)
}

// applyWithDSLPackage replays actions with the coedit tool's own parser and
// applier and compares the result with want.
func applyWithDSLPackage(program string, actions []string, want string) error {
	lines := dsl.SplitProgram(program)
	for _, a := range actions {
		c, err := dsl.ParseAction(a + "\n")
		if err != nil {
			return err
		}
		if lines, err = dsl.Apply(lines, c); err != nil {
			return err
		}
	}
	if got := dsl.JoinProgram(lines); got != want {
		return fmt.Errorf("dsl package gives\n%s", got)
	}
	return nil
}

func join(toks []Token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.Text)
	}
	return b.String()
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		src  string
		want []string // non-space tokens as "kind:text"
	}{
		{"x = 1.5e-3 + 0x1F", []string{"3:x", "6:=", "4:1.5e-3", "6:+", "4:0x1F"}},
		{`s = f"a{b}" + rb'\n'`, []string{"3:s", "6:=", `5:f"a{b}"`, "6:+", `5:rb'\n'`}},
		{"d = '''a\n'b'\n''' # c", []string{"3:d", "6:=", "5:'''a\n'b'\n'''", "2:# c"}},
		{"if a<=b: return a//2", []string{"3:if", "3:a", "6:<=", "3:b", "6::", "3:return", "3:a", "6://", "4:2"}},
		{"x = 'unterminated\ny", []string{"3:x", "6:=", "5:'unterminated", "1:\n", "3:y"}},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			toks := Tokenize(tc.src)
			if join(toks) != tc.src {
				t.Fatalf("tokens do not join back: %q", join(toks))
			}
			var got []string
			for _, tk := range toks {
				if tk.Kind != Space {
					got = append(got, fmt.Sprintf("%d:%s", tk.Kind, tk.Text))
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func FuzzTokenize(f *testing.F) {
	f.Add(sample)
	f.Add("x = '''a\\'''' + \"b\\\"\" \\\n + 1e+5j\r\n")
	f.Add("f'{x!r:>{w}}' # é\n\tpass")
	f.Fuzz(func(t *testing.T, src string) {
		toks := Tokenize(src)
		if join(toks) != src {
			t.Fatalf("round trip failed for %q", src)
		}
		line := 1
		for _, tk := range toks {
			if tk.Line != line || tk.Text == "" || src[tk.Off:tk.Off+len(tk.Text)] != tk.Text {
				t.Fatalf("bad token %+v (line %d)", tk, line)
			}
			line += strings.Count(tk.Text, "\n")
		}
	})
}

// FuzzUndoLine: whatever the two lines, the undo edit is a valid command
// that turns the corrupted line back into the original.
func FuzzUndoLine(f *testing.F) {
	f.Add("    return a + b", "    return a - b")
	f.Add("x = f(1, 2)", "x = f(2, 1)")
	f.Add("s = 'a >>> b'", "s = 'a >> b'")
	f.Fuzz(func(t *testing.T, orig, corr string) {
		if strings.ContainsAny(orig+corr, "\n\r") {
			return
		}
		e := undoLine(1, orig, corr)
		got, err := applyDSL(corr, []string{e.Command()})
		if err != nil || got != orig {
			t.Fatalf("undo %q of %q gives %q, %v; want %q", e.Command(), corr, got, err, orig)
		}
	})
}

// TestExpertFollowsFeedback: with two broken lines, the expert's first
// command fixes the one the feedback points at, whichever it is; without
// a line it goes top to bottom.
func TestExpertFollowsFeedback(t *testing.T) {
	ref := "def f(a, b):\n    s = a + b\n    t = s * 2\n    u = t - 1\n    return u\n"
	broken := "def f(a, b):\n    s = a - b\n    t = s * 2\n    u = t - 1\n    retrun u\n"
	for _, tc := range []struct {
		point int // the line the feedback names while it is broken
		first string
	}{
		{5, "REPW 5 >>>retrun >>>return"},
		{2, "REPW 2 >>>- >>>+"},
		{0, "REPW 2 >>>- >>>+"},
	} {
		check := func(_ context.Context, p string) (Outcome, error) {
			lines := strings.Split(p, "\n")
			o := Outcome{Failing: p != ref}
			if tc.point > 0 && lines[tc.point-1] != strings.Split(ref, "\n")[tc.point-1] {
				o.Line = tc.point
			}
			return o, nil
		}
		got, err := ExpertTrace(context.Background(), broken, ref, check)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0] != tc.first || got[2] != "EXIT" {
			t.Errorf("feedback at line %d: trace %q, want %q first", tc.point, got, tc.first)
		}
		if p, err := applyDSL(broken, got); err != nil || p != ref {
			t.Errorf("trace %q does not repair: %v\n%s", got, err, p)
		}
	}
}

func TestFeedbackLine(t *testing.T) {
	for _, tc := range []struct {
		feedback string
		want     int
	}{
		{"Test 1 of 4 failed:\nassert f(1) == 2\n  File \"<program>\", line 7, in f\n    x = y\nNameError: name 'y' is not defined", 7},
		{"  File \"<program>\", line 3, in <module>\n  File \"<program>\", line 9, in g\nZeroDivisionError", 9},
		{"  File \"<program>\", line 12\n    retrun x\nSyntaxError: invalid syntax", 12},
		{"Test 2 of 3 failed:\nassert f(2) == 4\nAssertionError: 5 != 4", 0},
		{"  File \"<tests>\", line 3, in <module>", 0},
	} {
		if got := FeedbackLine(tc.feedback); got != tc.want {
			t.Errorf("FeedbackLine(%q) = %d, want %d", tc.feedback, got, tc.want)
		}
	}
}

// FuzzExpertTrace: from any program to any other (no blank last line, as
// the tool's programs), with feedback pointing at any line, the expert's
// trace is valid DSL and ends at the reference.
func FuzzExpertTrace(f *testing.F) {
	f.Add("def f(a, b):\n    s = a - b\n    retrun s\n", sample, 2)
	f.Add(sample, "x = 1\n", 0)
	f.Add("a\nb\nc\n", "c\nb\na\n", 3)
	f.Fuzz(func(t *testing.T, broken, ref string, line int) {
		for _, p := range []string{broken, ref} {
			if strings.ContainsRune(p, '\r') || strings.HasSuffix(strings.TrimSuffix(p, "\n"), "\n") || strings.TrimSuffix(p, "\n") == "" {
				return
			}
		}
		if strings.HasSuffix(broken, "\n") != strings.HasSuffix(ref, "\n") || strings.Count(broken+ref, "\n") > 60 {
			return
		}
		check := func(context.Context, string) (Outcome, error) { return Outcome{Failing: true, Line: line}, nil }
		cmds, err := ExpertTrace(context.Background(), broken, ref, check)
		if err != nil {
			t.Fatal(err)
		}
		got, err := applyDSL(broken, cmds)
		if err != nil || got != ref {
			t.Fatalf("trace %q from %q gives %q, %v; want %q", cmds, broken, got, err, ref)
		}
	})
}

func TestDemonstrationsRestrictedOperators(t *testing.T) {
	task := sdk.Task{ID: "t1", Reference: sample}
	for _, tc := range []struct {
		name      string
		operators []string
		max       int
	}{
		{"typo only, one corruption", []string{"typo"}, 1},
		{"two operators, up to three", []string{"drop_return", "delete_line"}, 3},
		{"all operators, default count", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recipe := Recipe{Style: Coedit, Order: FollowFeedback, Operators: tc.operators, MaxCorruptions: tc.max}
			demos, err := Demonstrations(context.Background(), task, 5, 20, recipe, failsIfChanged(sample))
			if err != nil {
				t.Fatal(err)
			}
			if len(demos) == 0 {
				t.Fatal("no demonstrations")
			}
			allowed := map[string]bool{}
			for _, op := range tc.operators {
				allowed[op] = true
			}
			max := tc.max
			if max == 0 {
				max = MaxCorruptions
			}
			for i, d := range demos {
				if n := len(d.Corruptions); n < 1 || n > max {
					t.Fatalf("demo %d: %d corruptions, want 1..%d", i, n, max)
				}
				for _, op := range d.Corruptions {
					if len(allowed) > 0 && !allowed[op] {
						t.Fatalf("demo %d: operator %q outside %q", i, op, tc.operators)
					}
				}
				if got, err := applyDSL(d.Program, d.Actions); err != nil || got != sample {
					t.Fatalf("demo %d: trace does not repair: %v", i, err)
				}
			}
		})
	}
}

func TestDemonstrationsUnknownOperator(t *testing.T) {
	_, err := Demonstrations(context.Background(), sdk.Task{ID: "t1", Reference: sample}, 1, 1,
		Recipe{Style: Coedit, Operators: []string{"typo", "flip_bits"}}, failsIfChanged(sample))
	if err == nil || !strings.Contains(err.Error(), `"flip_bits"`) || !strings.Contains(err.Error(), "drop_return") {
		t.Fatalf("err = %v, want the unknown name and the known ones", err)
	}
}
