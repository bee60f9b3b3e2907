package synth

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/tasks"
	"github.com/lathe-ml/lathe/plugins/coedit"
	"github.com/lathe-ml/lathe/plugins/coedit/coedittest"
	"github.com/lathe-ml/lathe/plugins/rewrite"
	"github.com/lathe-ml/lathe/sdk"
)

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"return x\n", "retrun x\n", 2},
		{"a < b", "a <= b", 1},
		{"def f():\n    return 1\n", "def f():\n    return 1\n    pass\n", 9},
	}
	for _, tc := range tests {
		t.Run(tc.a+"|"+tc.b, func(t *testing.T) {
			if got := EditDistance(tc.a, tc.b); got != tc.want {
				t.Fatalf("EditDistance = %d, want %d", got, tc.want)
			}
			if got := EditDistance(tc.b, tc.a); got != tc.want {
				t.Fatalf("EditDistance reversed = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	recs := []Record{
		{TaskID: "a", Program: "x = 1 +2", Reference: "x = 1 + 2", Actions: []string{"REPW 1 >>>+2 >>>+ 2", "EXIT"}, Corruptions: []string{"typo"}, Split: "train"},
		{TaskID: "a", Program: "y", Reference: "", Actions: []string{"EXIT"}, Corruptions: []string{"typo", "off_by_one"}, Split: "train"},
		{TaskID: "b", Program: "z=0", Reference: "z=1", Actions: []string{"REPL 1 >>>z=1", "EXIT"}, Corruptions: []string{"off_by_one"}, Split: "test"},
	}
	s := Stats(recs)
	// Tokens: "x = 1 +2" 5, "REPW 1 >>>+2 >>>+ 2" 12, "EXIT" 1; "y" 1, "EXIT" 1;
	// "z=0" 3, "REPL 1 >>>z=1" 8, "EXIT" 1.
	want := Summary{
		Tasks: 2, Demos: 3, MeanCommands: 5.0 / 3, MeanEditDistance: 1, EditDistanceN: 2,
		MeanCorruptions: 4.0 / 3, MeanTokens: 32.0 / 3,
		Operators: map[string]int{"typo": 2, "off_by_one": 2},
		Splits:    map[string]int{"train": 2, "test": 1},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Stats = %+v\nwant    %+v", s, want)
	}
	if got := s.OperatorNames(); !reflect.DeepEqual(got, []string{"off_by_one", "typo"}) {
		t.Fatalf("OperatorNames = %v", got)
	}
}

// fakeTasks are small programs the coedittest runner can judge: a program
// passes when it equals the reference.
func fakeTasks(n int) []sdk.Task {
	var ts []sdk.Task
	for i := 0; i < n; i++ {
		ref := fmt.Sprintf("def f%d(a, b):\n    total = a + b * %d\n    if total < 10:\n        return total\n    return total - 1\n", i, i+2)
		ts = append(ts, sdk.Task{ID: fmt.Sprintf("t/%d", i), Program: ref, Reference: ref, Tests: "assert f(1, 2) == 3\n", Split: "train"})
	}
	return ts
}

func synthBytes(t *testing.T, tool sdk.ToolWithDemonstrate, ts []sdk.Task, opts Options) ([]byte, Result) {
	t.Helper()
	res, err := Synthesize(context.Background(), tool, ts, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, res.Records); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

// TestSynthesizeDeterministic: the same seed gives the same bytes whatever
// the parallelism (the fake runner's delay shuffles completion order), a
// different seed different bytes, and the file reads back.
func TestSynthesizeDeterministic(t *testing.T) {
	ts := fakeTasks(12)
	for _, mk := range []struct {
		name string
		tool func() interface {
			sdk.Tool
			sdk.ToolWithDemonstrate
		}
	}{
		{"coedit", func() interface {
			sdk.Tool
			sdk.ToolWithDemonstrate
		} {
			return coedit.NewWithRunner(&coedittest.Runner{Delay: 50 * time.Microsecond})
		}},
		{"rewrite", func() interface {
			sdk.Tool
			sdk.ToolWithDemonstrate
		} {
			return rewrite.NewWithRunner(&coedittest.Runner{Delay: 50 * time.Microsecond})
		}},
	} {
		t.Run(mk.name, func(t *testing.T) {
			a, res := synthBytes(t, mk.tool(), ts, Options{PerTask: 6, Seed: 5, Parallel: 1})
			b, _ := synthBytes(t, mk.tool(), ts, Options{PerTask: 6, Seed: 5, Parallel: 8, Progress: &bytes.Buffer{}})
			c, _ := synthBytes(t, mk.tool(), ts, Options{PerTask: 6, Seed: 6, Parallel: 8})
			if !bytes.Equal(a, b) {
				t.Fatal("same seed, different parallelism: output differs")
			}
			if bytes.Equal(a, c) {
				t.Fatal("different seeds gave identical output")
			}
			if len(res.Records) != 72 || len(res.Short) != 0 || res.DemosPerSecond() <= 0 {
				t.Fatalf("%d records, short %v, %.1f demos/s", len(res.Records), res.Short, res.DemosPerSecond())
			}
			back, err := ReadJSONL(bytes.NewReader(a), "demos.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, res.Records) {
				t.Fatal("records do not read back equal")
			}
		})
	}
}

func TestReadJSONLErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"task_id": "a", "actions": ["EXIT"]}` + "\n{bad", "d.jsonl:2: "},
		{`{"task_id": "a", "actions": ["EXIT"], "extra": 1}`, `d.jsonl:1: json: unknown field "extra"`},
		{"\n" + `{"task_id": "a", "actions": []}`, "d.jsonl:2: a demonstration needs task_id and actions"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := ReadJSONL(strings.NewReader(tc.in), "d.jsonl")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSynthesizeErrors(t *testing.T) {
	tool := coedit.NewWithRunner(&coedittest.Runner{})
	if _, err := Synthesize(context.Background(), tool, fakeTasks(1), Options{}); err == nil {
		t.Fatal("no error for per-task 0")
	}
	bad := fakeTasks(3)
	bad[1].Reference, bad[1].Program = "", ""
	_, err := Synthesize(context.Background(), tool, bad, Options{PerTask: 1})
	if err == nil || !strings.Contains(err.Error(), "task t/1") {
		t.Fatalf("got %v, want an error naming task t/1", err)
	}
}

// replayAll synthesizes demonstrations for tasks with the real coedit tool
// and real sandbox, replays every one and requires: the starting program
// fails, every action is valid, and the tests pass at EXIT.
func replayAll(t *testing.T, ts []sdk.Task, per int) {
	tool := coedit.New()
	t.Cleanup(func() { tool.Shutdown() })
	ctx := context.Background()
	if err := tool.Configure(ctx, sdk.Config(`{"timeout_s": 10}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Runner(ctx); err != nil {
		t.Skipf("sandbox unavailable: %v", err)
	}
	res, err := Synthesize(ctx, tool, ts, Options{PerTask: per, Seed: 1, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eps := make([]Replayed, len(res.Records))
	errs := make([]error, len(res.Records))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, r := range res.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			eps[i], errs[i] = Replay(ctx, tool, r.Task(), r.Demonstration())
		}()
	}
	wg.Wait()
	replayRate := float64(len(res.Records)) / time.Since(start).Seconds()
	solved, brokenAtStart := 0, 0
	for i, r := range res.Records {
		ep := eps[i]
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !ep.Start.Solved && ep.Start.Total > 0 || ep.Start.ErrorClass == "syntax" {
			brokenAtStart++
		} else {
			t.Errorf("%s: starting program passes its tests: %+v\n%s", r.TaskID, ep.Start, r.Program)
		}
		if ep.Played != len(r.Actions) || !ep.Final.Exited || !ep.Final.Valid {
			t.Errorf("%s: played %d/%d actions, final %+v\nactions %q\nlast state:\n%s", r.TaskID, ep.Played, len(r.Actions), ep.Final, r.Actions, ep.States[len(ep.States)-1])
			continue
		}
		if ep.Solved {
			solved++
		} else {
			t.Errorf("%s: not solved at EXIT: %+v\nprogram:\n%s\nactions %q\nlast state:\n%s", r.TaskID, ep.Final, r.Program, r.Actions, ep.States[len(ep.States)-1])
		}
	}
	s := Stats(res.Records)
	t.Logf("%d tasks, %d demos (%d tasks short), synthesis %.1f demos/s, replay %.1f demos/s; solved at EXIT %d/%d (%.1f%%), failing at start %d/%d",
		len(ts), len(res.Records), len(res.Short), res.DemosPerSecond(), replayRate,
		solved, len(res.Records), 100*float64(solved)/math.Max(1, float64(len(res.Records))), brokenAtStart, len(res.Records))
	t.Logf("stats: commands %.2f, edit distance %.1f, corruptions %.2f, tokens %.1f, operators %v",
		s.MeanCommands, s.MeanEditDistance, s.MeanCorruptions, s.MeanTokens, s.Operators)
	if len(res.Records) == 0 {
		t.Fatal("no demonstrations")
	}
}

// TestReplayBuiltin replays demonstrations of every built-in task through
// the real coedit tool. LATHE_LONG=1 asks for 5 per task instead of 1.
func TestReplayBuiltin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python; skipped with -short")
	}
	ts, err := tasks.Load(context.Background(), "builtin:basic", tasks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	per := 1
	if os.Getenv("LATHE_LONG") != "" {
		per = 5
	}
	replayAll(t, ts, per)
}

// TestReplayMBPPTrain replays 3 demonstrations of every MBPP train task
// (LATHE_LONG=1 only: a few minutes on 2 cores).
func TestReplayMBPPTrain(t *testing.T) {
	if os.Getenv("LATHE_LONG") == "" {
		t.Skip("set LATHE_LONG=1 to replay MBPP train")
	}
	dir := filepath.Join("..", "..", "..", "shared", "datasets")
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		dir = d
	}
	p := filepath.Join(dir, "mbpp", "mbpp.jsonl")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("MBPP not available: %v", err)
	}
	ts, err := tasks.Load(context.Background(), "mbpp:"+p, tasks.Options{Split: tasks.SplitTrain})
	if err != nil {
		t.Fatal(err)
	}
	replayAll(t, ts, 3)
}
