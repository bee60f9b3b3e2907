package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mbppTask is one line of MBPP's mbpp.jsonl.
type mbppTask struct {
	TaskID    int      `json:"task_id"`
	Code      string   `json:"code"`
	SetupCode string   `json:"test_setup_code"`
	TestList  []string `json:"test_list"`
}

// mbppPath finds ../shared/datasets/mbpp/mbpp.jsonl from the package
// directory, or under $LATHE_DATASETS.
func mbppPath() string {
	if d := os.Getenv("LATHE_DATASETS"); d != "" {
		return filepath.Join(d, "mbpp", "mbpp.jsonl")
	}
	return filepath.Join("..", "..", "..", "shared", "datasets", "mbpp", "mbpp.jsonl")
}

// loadMBPP returns one Check per task: the reference program with its
// test_list. MBPP's test_setup_code builds values from the program's own
// classes (task 367 builds a tree of the program's Node), so it runs after
// the program, at the top of the tests, as MBPP's own harness does.
func loadMBPP(t testing.TB) ([]mbppTask, []Check) {
	t.Helper()
	f, err := os.Open(mbppPath())
	if err != nil {
		t.Skipf("MBPP not available (%v); set LATHE_DATASETS to the datasets directory", err)
	}
	defer f.Close()
	var tasks []mbppTask
	var checks []Check
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var m mbppTask
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s:%d: %v", mbppPath(), line, err)
		}
		tasks = append(tasks, m)
		checks = append(checks, Check{Program: m.Code, Tests: mbppTests(m)})
	}
	return tasks, checks
}

func mbppTests(m mbppTask) string {
	s := strings.Join(m.TestList, "\n") + "\n"
	if strings.TrimSpace(m.SetupCode) != "" {
		s = m.SetupCode + "\n" + s
	}
	return s
}

var callRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*\(`)

// corrupt breaks the function the first test calls: it is redefined at
// the end of the program to return its own result wrapped in a list, which
// no MBPP test accepts.
func corrupt(m mbppTask) (string, bool) {
	for _, call := range callRE.FindAllStringSubmatch(strings.Join(m.TestList, "\n"), -1) {
		name := call[1]
		if regexp.MustCompile(`(?m)^def\s+` + name + `\s*\(`).MatchString(m.Code) {
			return m.Code + "\n_lathe_orig = " + name + "\ndef " + name + "(*a, **k):\n    return [_lathe_orig(*a, **k), 'corrupted']\n", true
		}
	}
	return "", false
}

// TestMBPPReferences checks that every MBPP reference passes its tests in
// the sandbox and a corrupted variant of each fails. It takes ~10 s on two
// cores; `go test -short` skips it.
func TestMBPPReferences(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs all 974 MBPP references twice")
	}
	tasks, checks := loadMBPP(t)
	// A generous limit: task 123 is CPU-heavy (~2 s alone) and CI machines are shared.
	p, err := NewPool(context.Background(), Options{Timeout: 60 * time.Second, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	vs, err := p.RunBatch(context.Background(), checks)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	passed := 0
	for i, v := range vs {
		if v.Status == StatusPass && v.Passed == v.Total && v.Total == len(tasks[i].TestList) {
			passed++
		} else {
			t.Errorf("task %d: %s %d/%d\n%s", tasks[i].TaskID, v.Status, v.Passed, v.Total, v.Feedback)
		}
	}
	t.Logf("references: %d/%d pass in %v (%.1f checks/s)", passed, len(vs), el.Round(time.Millisecond), float64(len(vs))/el.Seconds())

	var bad []Check
	var badTasks []mbppTask
	for _, m := range tasks {
		prog, ok := corrupt(m)
		if !ok {
			t.Errorf("task %d: no function of the program is called by its tests", m.TaskID)
			continue
		}
		bad = append(bad, Check{Program: prog, Tests: mbppTests(m)})
		badTasks = append(badTasks, m)
	}
	vs, err = p.RunBatch(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i, v := range vs {
		if v.Status != StatusPass {
			failed++
		} else {
			t.Errorf("corrupted task %d passed", badTasks[i].TaskID)
		}
	}
	t.Logf("corrupted: %d/%d fail", failed, len(vs))
}
