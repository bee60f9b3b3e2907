package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// datasets finds ../shared/datasets from the package directory or
// $LATHE_DATASETS; sub is a path below it.
func datasets(t *testing.T, sub string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "datasets")
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		dir = d
	}
	p := filepath.Join(dir, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("dataset %s not available (%v); set LATHE_DATASETS", sub, err)
	}
	return p
}

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "set.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func repairLines(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		rec := map[string]string{
			"task_id": fmt.Sprintf("t/%d", i),
			"program": fmt.Sprintf("def f():\n    return %d\n", i+1),
			"tests":   fmt.Sprintf("assert f() == %d\n", i),
		}
		if i%3 == 0 {
			rec["reference"] = fmt.Sprintf("def f():\n    return %d\n", i)
		}
		b, _ := json.Marshal(rec)
		out = append(out, string(b))
	}
	return out
}

func humanEvalLines(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(map[string]string{
			"task_id":            fmt.Sprintf("HumanEval/%d", i),
			"prompt":             fmt.Sprintf("def f%d(x):\n    \"\"\"Add %d to x.\n\n    >>> f%d(1)\n    \"\"\"\n", i, i, i),
			"canonical_solution": fmt.Sprintf("    return x + %d\n", i),
			"test":               fmt.Sprintf("def check(candidate):\n    assert candidate(1) == %d\n", i+1),
			"entry_point":        fmt.Sprintf("f%d", i),
		})
		out = append(out, string(b))
	}
	return out
}

// sources lists one source per loader; the on-disk benchmarks are skipped
// when absent.
func sources(t *testing.T) map[string]string {
	srcs := map[string]string{
		"builtin":   "builtin:basic",
		"jsonl":     "jsonl:" + writeLines(t, repairLines(200)),
		"humaneval": "humaneval:" + writeLines(t, humanEvalLines(164)),
	}
	if p := filepath.Join("..", "..", "..", "shared", "datasets"); os.Getenv("LATHE_DATASETS") != "" || dirExists(p) {
		if os.Getenv("LATHE_DATASETS") != "" {
			p = os.Getenv("LATHE_DATASETS")
		}
		if dirExists(filepath.Join(p, "mbpp")) {
			srcs["mbpp"] = "mbpp:" + filepath.Join(p, "mbpp", "mbpp.jsonl")
		}
		if dirExists(filepath.Join(p, "quixbugs")) {
			srcs["quixbugs"] = "quixbugs:" + filepath.Join(p, "quixbugs")
		}
	}
	return srcs
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func ids(ts []sdk.Task) map[string]bool {
	m := map[string]bool{}
	for _, t := range ts {
		m[t.ID] = true
	}
	return m
}

func quiet(error) {}

// TestNoHeldOutInTrain is the guarantee evaluation relies on: for every
// loader and several seeds, no test/validation/prompt task reaches train,
// and the splits partition the set.
func TestNoHeldOutInTrain(t *testing.T) {
	ctx := context.Background()
	for kind, src := range sources(t) {
		t.Run(kind, func(t *testing.T) {
			for _, seed := range []int64{0, 1, 7, 12345} {
				load := func(split string) []sdk.Task {
					ts, err := Load(ctx, src, Options{Split: split, Seed: seed, ValidationFraction: 0.1, Warn: quiet})
					if err != nil {
						t.Fatal(err)
					}
					for _, tk := range ts {
						if split != SplitAll && tk.Split != split {
							t.Fatalf("task %s in split %s says %q", tk.ID, split, tk.Split)
						}
					}
					return ts
				}
				all := load(SplitAll)
				train := ids(load(SplitTrain))
				held := 0
				for _, s := range []string{SplitTest, SplitValidation, SplitPrompt} {
					for _, tk := range load(s) {
						held++
						if train[tk.ID] {
							t.Fatalf("seed %d: held-out %s task %s is in train", seed, s, tk.ID)
						}
					}
				}
				if len(train)+held != len(all) || len(train) == 0 || held == 0 {
					t.Fatalf("seed %d: train %d + held-out %d != all %d", seed, len(train), held, len(all))
				}
				if kind == "mbpp" {
					for id := range train {
						n, _ := strconv.Atoi(strings.TrimPrefix(id, "mbpp/"))
						if n < 601 || n > 974 {
							t.Fatalf("MBPP train holds %s", id)
						}
					}
					if len(train) != 374 {
						t.Fatalf("MBPP train has %d tasks, want 374", len(train))
					}
				}
			}
		})
	}
}

// TestSplitStableUnderReorder shuffles a set's lines: every split keeps
// the same tasks in the same (id) order.
func TestSplitStableUnderReorder(t *testing.T) {
	ctx := context.Background()
	sets := map[string][]string{
		"jsonl":     repairLines(300),
		"humaneval": humanEvalLines(164),
	}
	if p := filepath.Join("..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl"); fileExists(p) {
		b, _ := os.ReadFile(p)
		sets["mbpp"] = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	for kind, lines := range sets {
		t.Run(kind, func(t *testing.T) {
			shuffled := append([]string(nil), lines...)
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			a, b := writeLines(t, lines), writeLines(t, shuffled)
			for _, split := range []string{SplitTrain, SplitTest} {
				x, err := Load(ctx, kind+":"+a, Options{Split: split, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				y, err := Load(ctx, kind+":"+b, Options{Split: split, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(x, y) || len(x) == 0 {
					t.Fatalf("split %s differs after shuffling (%d vs %d tasks)", split, len(x), len(y))
				}
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestHashSplitFractions checks the hash split's proportions and that the
// seed changes the assignment.
func TestHashSplitFractions(t *testing.T) {
	tests := []struct {
		test, valid float64
	}{{0.2, 0}, {0.1, 0.1}, {0.5, 0.25}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			n, counts, moved := 20000, map[string]int{}, 0
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("x/%d", i)
				s := HashSplit(5, id, tc.test, tc.valid)
				counts[s]++
				if s != HashSplit(6, id, tc.test, tc.valid) {
					moved++
				}
			}
			for split, want := range map[string]float64{SplitTest: tc.test, SplitValidation: tc.valid, SplitTrain: 1 - tc.test - tc.valid} {
				if got := float64(counts[split]) / float64(n); got < want-0.015 || got > want+0.015 {
					t.Errorf("%s share %.3f, want %.3f", split, got, want)
				}
			}
			if moved == 0 {
				t.Error("changing the seed moved no task")
			}
		})
	}
}

func TestMalformedRecords(t *testing.T) {
	good := `{"task_id": "a", "program": "x = 1\n", "tests": "assert x == 1\n"}`
	tests := []struct {
		name string
		line string
		want string
	}{
		{"bad json", `{"task_id": "b", "program": `, "bad JSON"},
		{"missing tests", `{"task_id": "b", "program": "x = 1\n"}`, `missing or empty "tests"`},
		{"no code", `{"task_id": "b", "tests": "assert 1\n"}`, `needs "program" or "reference"`},
		{"unknown key", `{"task_id": "b", "program": "x = 1\n", "test": "assert 1"}`, `unknown field "test"`},
		{"duplicate id", `{"task_id": "a", "program": "y = 1\n", "tests": "assert 1\n"}`, `duplicate task_id "a" (first on line 1)`},
		{"bad split", `{"task_id": "b", "program": "y\n", "tests": "assert 1\n", "split": "dev"}`, `unknown split "dev"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The bad record is on line 3, after a good one and a blank line.
			p := writeLines(t, []string{good, "", tc.line})
			want := fmt.Sprintf("%s:3: ", p)
			_, err := Load(context.Background(), "jsonl:"+p, Options{Strict: true})
			var re *RecordError
			if !errors.As(err, &re) || re.Line != 3 || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("strict: got %v, want %q", err, want)
			}
			var warns []error
			ts, err := Load(context.Background(), "jsonl:"+p, Options{Warn: func(e error) { warns = append(warns, e) }})
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != 1 || ts[0].ID != "a" || len(warns) != 1 || !strings.Contains(warns[0].Error(), want) || !strings.Contains(warns[0].Error(), tc.want) {
				t.Fatalf("lenient: tasks %v, warnings %v", ts, warns)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		source string
		opts   Options
		want   string
	}{
		{"basic", Options{}, "want KIND:LOCATION"},
		{"csv:x.csv", Options{}, `unknown task source "csv"`},
		{"builtin:nope", Options{}, `unknown built-in task set "nope"`},
		{"mbpp:/does/not/exist.jsonl", Options{}, "no such file"},
		{"builtin:basic", Options{Split: "dev"}, `unknown split "dev"`},
		{"builtin:basic", Options{TestFraction: 0.8, ValidationFraction: 0.3}, "sum to at most 1"},
	}
	for _, tc := range tests {
		t.Run(tc.source+tc.opts.Split, func(t *testing.T) {
			_, err := Load(context.Background(), tc.source, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tasks: ") {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoaderFields(t *testing.T) {
	ctx := context.Background()
	he, err := Load(ctx, "humaneval:"+writeLines(t, humanEvalLines(3)), Options{MaxTasks: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Task{
		ID:        "HumanEval/0",
		Text:      "Add 0 to x.",
		Program:   "def f0(x):\n    \"\"\"Add 0 to x.\n\n    >>> f0(1)\n    \"\"\"\n    return x + 0\n",
		Reference: "def f0(x):\n    \"\"\"Add 0 to x.\n\n    >>> f0(1)\n    \"\"\"\n    return x + 0\n",
		Tests:     "def check(candidate):\n    assert candidate(1) == 1\n\ncheck(f0)\n",
		Split:     he[0].Split,
	}
	if len(he) != 2 || !reflect.DeepEqual(he[0], want) {
		t.Fatalf("humaneval: got %d tasks, first %+v\nwant %+v", len(he), he[0], want)
	}
	if he[1].ID != "HumanEval/1" {
		t.Fatalf("MaxTasks kept %s, want the first ids", he[1].ID)
	}

	mbpp := datasets(t, filepath.Join("mbpp", "mbpp.jsonl"))
	ts, err := Load(ctx, "mbpp:"+mbpp, Options{Split: SplitPrompt})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 10 || ts[0].ID != "mbpp/1" || ts[9].ID != "mbpp/10" {
		t.Fatalf("prompt split: %d tasks %v..", len(ts), ts[0].ID)
	}
	t2 := ts[1]
	if strings.Contains(t2.Reference, "\r") || t2.Program != t2.Reference || strings.Count(t2.Tests, "assert ") != 3 {
		t.Fatalf("mbpp/2 decoded badly: %+v", t2)
	}
	all, err := Load(ctx, "mbpp:"+mbpp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range all {
		if tk.ID == "mbpp/367" && !strings.HasPrefix(tk.Tests, "root = Node(1)") {
			t.Fatalf("mbpp/367: setup code not at the head of the tests: %q", tk.Tests[:40])
		}
	}

	qb := datasets(t, "quixbugs")
	var warns []string
	q, err := Load(ctx, "quixbugs:"+qb, Options{Warn: func(e error) { warns = append(warns, e.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 31 || len(warns) != 9 {
		t.Fatalf("quixbugs: %d tasks, %d warnings, want 31 and 9 (graph programs without JSON cases)", len(q), len(warns))
	}
	for _, tk := range q {
		if tk.ID == "quixbugs/gcd" {
			if tk.Program == tk.Reference || !strings.Contains(tk.Tests, "assert _q(gcd(17, 0)) == _q(17)\n") {
				t.Fatalf("quixbugs/gcd: %+v", tk)
			}
		}
	}
}

func TestPyLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{`[1, 2.5, -3e2]`, `[1, 2.5, -3e2]`},
		{`{"b": null, "a": [true, false]}`, `{"a": [True, False], "b": None}`},
		{`"tab\there \"q\" \u00e9"`, `"tab\there \"q\" é"`},
		{`[]`, `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := pyLiteral(json.RawMessage(tc.in))
			if err != nil || got != tc.want {
				t.Fatalf("pyLiteral(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestSortByID(t *testing.T) {
	in := []string{"mbpp/10", "mbpp/9", "basic/002", "mbpp/100", "basic/010", "a", "mbpp/09x"}
	ts := make([]sdk.Task, len(in))
	for i, id := range in {
		ts[i].ID = id
	}
	SortByID(ts)
	var got []string
	for _, tk := range ts {
		got = append(got, tk.ID)
	}
	want := []string{"a", "basic/002", "basic/010", "mbpp/9", "mbpp/09x", "mbpp/10", "mbpp/100"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// fakeBreaker corrupts by appending a marker, or finds nothing for ids in
// none.
type fakeBreaker struct{ none map[string]bool }

func (f fakeBreaker) Demonstrate(_ context.Context, req sdk.DemonstrateRequest) ([]sdk.Demonstration, error) {
	if f.none[req.Task.ID] {
		return nil, nil
	}
	return []sdk.Demonstration{{TaskID: req.Task.ID, Program: req.Task.Reference + fmt.Sprintf("# broken %d\n", req.Seed),
		Corruptions: []string{"typo"}}}, nil
}

func TestRepairTasks(t *testing.T) {
	in := []sdk.Task{
		{ID: "a", Program: "x = 1\n", Reference: "x = 1\n"},
		{ID: "b", Program: "x = 2\n", Reference: "x = 1\n"}, // already a repair task
		{ID: "c", Program: "y = 1\n", Reference: "y = 1\n"},
		{ID: "d", Program: "z = 1\n"},
	}
	var warns []error
	got, ops, err := RepairTasks(context.Background(), in, 9, fakeBreaker{none: map[string]bool{"c": true}}, 2, func(e error) { warns = append(warns, e) })
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for i, tk := range got {
		summary = append(summary, fmt.Sprintf("%s=%s%v", tk.ID, tk.Program, ops[i]))
	}
	sort.Strings(summary)
	want := []string{"a=x = 1\n# broken 9\n[typo]", "b=x = 2\n[]", "d=z = 1\n[]"}
	if !reflect.DeepEqual(summary, want) || len(warns) != 1 || !strings.Contains(warns[0].Error(), "task c") {
		t.Fatalf("got %q (warnings %v), want %q", summary, warns, want)
	}
	if in[0].Program != "x = 1\n" {
		t.Fatal("RepairTasks modified its input")
	}
}
