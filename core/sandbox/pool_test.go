package sandbox

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	sharedOnce sync.Once
	sharedPool *Pool
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedPool != nil {
		sharedPool.Close()
	}
	os.Exit(code)
}

// testPool is one pool shared by the package's tests (starting workers
// costs ~0.5 s); tests that need their own options start their own.
func testPool(t testing.TB) *Pool {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	sharedOnce.Do(func() {
		sharedPool, sharedErr = NewPool(context.Background(), Options{Timeout: 20 * time.Second})
	})
	if sharedErr != nil {
		t.Fatalf("NewPool: %v", sharedErr)
	}
	return sharedPool
}

func TestRunVerdicts(t *testing.T) {
	p := testPool(t)
	add := "def add(a, b):\n    return a + b\n"
	tests := "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(-1, 1) == 0\n"
	cases := []struct {
		name     string
		check    Check
		status   Status
		class    string
		passed   int
		total    int
		feedback string // exact when it starts with "=", otherwise a substring
	}{
		{"pass", Check{Program: add, Tests: tests}, StatusPass, "", 3, 3, "=All 3 tests passed."},
		{"wrong value", Check{Program: "def add(a, b):\n    return a * b\n", Tests: tests}, StatusFail, "assertion", 1, 3,
			"=Test 1 of 3 failed:\nassert add(1, 2) == 3\nAssertionError: 2 != 3"},
		{"syntax error", Check{Program: "def add(a, b):\n    x = 1\n    retrun a\n", Tests: tests}, StatusError, "syntax", 0, 3,
			"=  File \"<program>\", line 3\n    retrun a\nSyntaxError: invalid syntax"},
		{"exception in program function", Check{Program: "def add(a, b):\n    return a + 'x'\n", Tests: tests}, StatusError, "exception", 0, 3,
			"=Test 1 of 3 failed:\nassert add(1, 2) == 3\n  File \"<program>\", line 2, in add\n    return a + 'x'\nTypeError: unsupported operand type(s) for +: 'int' and 'str'"},
		{"error at top level", Check{Program: "x = undefined_name\n" + add, Tests: tests}, StatusError, "exception", 0, 3,
			"=  File \"<program>\", line 1, in <module>\n    x = undefined_name\nNameError: name 'undefined_name' is not defined"},
		{"stdout shown on failure", Check{Program: "def add(a, b):\n    print('debug', a)\n    return 0\n", Tests: tests}, StatusFail, "assertion", 1, 3,
			"--- stdout ---\ndebug 1\ndebug 2\ndebug -1"},
		{"setup runs first", Check{Setup: "import math\nK = 10\n", Program: "def f():\n    return K + math.floor(0.5)\n", Tests: "assert f() == 10\n"}, StatusPass, "", 1, 1, "=All 1 tests passed."},
		{"stdlib imports work under the dropped uid", Check{Program: "import heapq, re, collections, itertools, bisect\ndef f():\n    return heapq.nsmallest(2, [3, 1, 2])\n", Tests: "assert f() == [1, 2]\n"}, StatusPass, "", 1, 1, ""},
		{"test statements and block tests", Check{Program: add, Tests: "x = add(1, 1)\nassert x == 2\nfor i in range(3):\n    assert add(i, 0) == i\n"}, StatusPass, "", 2, 2, ""},
		{"assert message", Check{Program: add, Tests: "assert add(1, 1) == 3, 'one plus one'\n"}, StatusFail, "assertion", 0, 1, "AssertionError: one plus one"},
		{"not and membership", Check{Program: add, Tests: "assert not add(0, 0)\nassert add(1, 1) in [2, 3]\nassert add(1, 1) is not None\n"}, StatusPass, "", 3, 3, ""},
		{"namedtuple and Counter are plain", Check{Program: "from collections import namedtuple, Counter\nP = namedtuple('P', 'x y')\ndef f():\n    return P(1, 2), Counter('aab')\n", Tests: "assert f()[0] == (1, 2)\nassert f()[1] == {'a': 2, 'b': 1}\n"}, StatusPass, "", 2, 2, ""},
		{"truth tests", Check{Program: add, Tests: "assert add(1, 2)\nassert not add(1, -1)\nassert not not [add(0, 0)]\n"}, StatusPass, "", 3, 3, ""},
		{"a falsy value where a truthy one is wanted", Check{Program: add, Tests: "assert add(1, 2)\nassert add(1, -1), 'zero'\n"}, StatusFail, "assertion", 1, 2, "Test 2 of 2 failed:\nassert add(1, -1), 'zero'\nAssertionError: zero"},
		{"HumanEval check function, wrong", Check{Program: "def f(x):\n    return x\n", Tests: "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n"}, StatusFail, "assertion", 0, 1, "Test 1 of 1 failed:\ncheck(f)\n"},
		{"HumanEval check function, right", Check{Program: "def f(x):\n    return 2 * x\n", Tests: "def check(candidate):\n    assert candidate(1) == 2\n\ncheck(f)\n"}, StatusPass, "", 1, 1, ""},
		{"exception after the last test", Check{Program: add, Tests: "assert add(1, 2) == 3\nraise ValueError('late')\n"}, StatusError, "exception", 0, 1, "ValueError: late"},
		{"tests do not compile", Check{Program: add, Tests: "assert add(1,\n"}, StatusError, "syntax", 0, 0, "The tests do not compile"},
		{"tests compile only in a function", Check{Program: add, Tests: "return 1\nassert add(1, 2) == 3\n"}, StatusError, "syntax", 0, 0, "'return' outside function"},
		{"reference agrees", Check{Program: "def add(a, b):\n    return b + a\n", Tests: tests, Reference: add}, StatusPass, "", 3, 3, "=All 3 tests passed."},
		{"reference disagrees", Check{Program: "def add(a, b):\n    return a - b\n", Tests: tests, Reference: add}, StatusFail, "assertion", 0, 3, "AssertionError: -1 != 3"},
		{"reference with multi-line and chained literals", Check{Program: "def f(x):\n    return [x, x]\n", Tests: "assert f(1) == [\n    1,\n    1,\n]\nassert 0 < f(2)[0] <= 2\nassert f(3) != [4]\nassert f(5)[0] in (5, 6)\nassert f(6) == [\n    6, 7]\n",
			Reference: "def f(x):\n    return [x, x + (x == 6)]\n"}, StatusFail, "assertion", 4, 5, "=Test 5 of 5 failed:\nassert f(6) == [\n    6, 7]\nAssertionError: [6, 6] != [6, 7]"},
		{"reference: exception line numbers survive literal removal", Check{Program: "def f(x):\n    return 1 // x\n", Tests: "assert f(1) == [\n  1][0]\nassert f(0) == 0\n", Reference: "def f(x):\n    return 1 if x else 0\n"}, StatusError, "exception", 1, 2,
			"=Test 2 of 2 failed:\nassert f(0) == 0\n  File \"<program>\", line 2, in f\n    return 1 // x\nZeroDivisionError: integer division or modulo by zero"},
		{"timeout at top level", Check{Program: "while True:\n    pass\n", Tests: tests, Timeout: 300 * time.Millisecond}, StatusTimeout, "timeout", 0, 3, "=Timeout: the program ran longer than 300ms before the tests started."},
		{"timeout in a test", Check{Program: add + "def g():\n    while True:\n        pass\n", Tests: tests + "assert g() == 1\n", Timeout: 300 * time.Millisecond}, StatusTimeout, "timeout", 0, 4, "=Timeout: the program ran longer than 300ms (test 4 of 4 was running)."},
		{"indentation error", Check{Program: "def add(a, b):\nreturn a + b\n", Tests: tests}, StatusError, "syntax", 0, 3, "=  File \"<program>\", line 2\n    return a + b\nIndentationError: expected an indented block after function definition on line 1"},
		{"missing function", Check{Program: "def plus(a, b):\n    return a + b\n", Tests: tests}, StatusError, "exception", 0, 3, "=Test 1 of 3 failed:\nassert add(1, 2) == 3\n  File \"<tests>\", line 1, in <module>\n    assert add(1, 2) == 3\nNameError: name 'add' is not defined"},
		// Python's own "Did you mean" (3.10+, printed with the traceback,
		// not part of str(e)), the same on every version; the rows without
		// one are names CPython 3.11 suggests nothing for either.
		{"misspelled local: Python's suggestion", Check{Program: "def add(a, b):\n    total = a + b\n    return totl\n", Tests: tests}, StatusError, "exception", 0, 3,
			"NameError: name 'totl' is not defined. Did you mean: 'total'?"},
		{"misspelled parameter: case", Check{Program: "def add(a, B):\n    return a + b\n", Tests: tests}, StatusError, "exception", 0, 3,
			"NameError: name 'b' is not defined. Did you mean: 'B'?"},
		{"misspelled function name, seen from the tests", Check{Program: "def addd(a, b):\n    return a + b\n", Tests: tests}, StatusError, "exception", 0, 3,
			"NameError: name 'add' is not defined. Did you mean: 'addd'?"},
		{"misspelled method", Check{Program: "def add(a, b):\n    x = [a]\n    x.apend(b)\n    return sum(x)\n", Tests: tests}, StatusError, "exception", 0, 3,
			"AttributeError: 'list' object has no attribute 'apend'. Did you mean: 'append'?"},
		{"misspelled module attribute", Check{Program: "import math\ndef add(a, b):\n    return math.sqr(a) + b\n", Tests: tests}, StatusError, "exception", 0, 3,
			"AttributeError: module 'math' has no attribute 'sqr'. Did you mean: 'sqrt'?"},
		{"two letters swapped: too far for a suggestion", Check{Program: "def add(a, b):\n    return lne([a]) + b\n", Tests: tests}, StatusError, "exception", 0, 3,
			"=Test 1 of 3 failed:\nassert add(1, 2) == 3\n  File \"<program>\", line 2, in add\n    return lne([a]) + b\nNameError: name 'lne' is not defined"},
		{"an object whose __dir__ never returns is not asked", Check{Program: "class A:\n    def __dir__(self):\n        while True:\n            pass\ndef add(a, b):\n    return A().sum\n", Tests: tests}, StatusError, "exception", 0, 3,
			"=Test 1 of 3 failed:\nassert add(1, 2) == 3\n  File \"<program>\", line 6, in add\n    return A().sum\nAttributeError: 'A' object has no attribute 'sum'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := p.Run(context.Background(), tc.check)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != tc.status || v.ErrorClass != tc.class || v.Passed != tc.passed || v.Total != tc.total {
				t.Errorf("got %s/%s %d/%d, want %s/%s %d/%d\nfeedback:\n%s", v.Status, v.ErrorClass, v.Passed, v.Total,
					tc.status, tc.class, tc.passed, tc.total, v.Feedback)
			}
			// What the program raised is named, as the feedback shows it.
			if wantType := v.Status != StatusPass && !strings.HasPrefix(v.Feedback, "The tests do not compile"); wantType != (v.ErrorType != "") ||
				!strings.Contains(v.Feedback, v.ErrorType) {
				t.Errorf("error type %q for feedback:\n%s", v.ErrorType, v.Feedback)
			}
			if want, exact := strings.CutPrefix(tc.feedback, "="); exact && v.Feedback != want {
				t.Errorf("feedback:\n%s\nwant:\n%s", v.Feedback, want)
			} else if !exact && !strings.Contains(v.Feedback, tc.feedback) {
				t.Errorf("feedback:\n%s\nwant it to contain:\n%s", v.Feedback, tc.feedback)
			}
		})
	}
}

func TestCacheAndDeterminism(t *testing.T) {
	p := testPool(t)
	c := Check{Program: "def f():\n    return sorted({'b', 'a'}) + [len('x' * 3)]\n", Tests: "assert f() == ['a', 'b', 2]\n"}
	before := p.Stats()
	v1, err := p.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := p.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Cached || !v2.Cached {
		t.Errorf("cached flags: first %v, second %v", v1.Cached, v2.Cached)
	}
	if v1.Feedback != v2.Feedback || v1.Status != StatusFail {
		t.Errorf("verdicts differ or wrong: %+v vs %+v", v1, v2)
	}
	after := p.Stats()
	if after.Checks-before.Checks != 2 || after.CacheHits-before.CacheHits != 1 {
		t.Errorf("stats moved by %d checks, %d hits; want 2, 1", after.Checks-before.Checks, after.CacheHits-before.CacheHits)
	}
	// The same failing program run uncached in another pool gives the
	// same feedback byte for byte (no paths, pids or timings).
	q, err := NewPool(context.Background(), Options{Workers: 1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for range 3 {
		v3, err := q.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if v3.Feedback != v1.Feedback {
			t.Fatalf("feedback not deterministic:\n%s\nvs\n%s", v3.Feedback, v1.Feedback)
		}
	}
}

func TestRunBatchKeepsOrderAndHonoursContext(t *testing.T) {
	p := testPool(t)
	var cs []Check
	for i := range 8 {
		prog := "def f():\n    return " + strings.Repeat("1 + ", i) + "0\n"
		cs = append(cs, Check{Program: prog, Tests: "assert f() == 3\n"})
	}
	vs, err := p.RunBatch(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		want := StatusFail
		if i == 3 {
			want = StatusPass
		}
		if v.Status != want {
			t.Errorf("check %d: %s, want %s", i, v.Status, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Run(ctx, Check{Program: "import time\ntime.sleep(30)\n", Tests: "assert True\n", Timeout: 10 * time.Second})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("cancelled run: err %v after %v", err, time.Since(start))
	}
	// The pool recovers from the killed worker.
	v, err := p.Run(context.Background(), Check{Program: "x = 1\n", Tests: "assert x == 1\n"})
	if err != nil || v.Status != StatusPass {
		t.Errorf("after cancellation: %+v, %v", v, err)
	}
}

func TestIsolationLayers(t *testing.T) {
	p := testPool(t)
	iso := p.Isolation()
	if !iso.Rlimits || !iso.Timeout || !iso.ProcessGroupKill {
		t.Fatalf("minimum layers missing: %s", iso)
	}
	if os.Geteuid() == 0 && (!iso.UIDDrop || !iso.PIDNamespace || !iso.NetNamespace || !iso.PrivateTmp) {
		t.Errorf("running as root, expected uid drop and namespaces: %s", iso)
	}
	if strings.Contains(p.Python(), "shims") {
		t.Errorf("interpreter not resolved behind the shim: %s", p.Python())
	}
}

func TestWorkerCrashIsReplaced(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	p, err := NewPool(context.Background(), Options{Workers: 2, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Kill every worker from outside, as a crash would.
	p.mu.Lock()
	for w := range p.workers {
		w.cmd.Process.Kill()
	}
	p.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	vs, err := p.RunBatch(context.Background(), []Check{{Program: "x = 1", Tests: "assert x == 1"}, {Program: "x = 2", Tests: "assert x == 2"}, {Program: "x = 3", Tests: "assert x == 3"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v.Status != StatusPass {
			t.Errorf("check %d after the crash: %s %s", i, v.Status, v.Feedback)
		}
	}
}

func TestCacheable(t *testing.T) {
	sig := func(s syscall.Signal) *int { n := int(s); return &n }
	second := time.Second
	for _, tc := range []struct {
		name string
		v    Verdict
		r    reply
		want bool
	}{
		{"pass", Verdict{Status: StatusPass}, reply{}, true},
		{"assertion", Verdict{Status: StatusFail}, reply{}, true},
		{"exception", Verdict{Status: StatusError}, reply{}, true},
		{"worker died", Verdict{Status: StatusKilled}, reply{}, false},
		{"spun through the wall-clock limit", Verdict{Status: StatusTimeout}, reply{TimedOut: true, CPUSeconds: 0.95}, true},
		{"starved of CPU, or asleep", Verdict{Status: StatusTimeout}, reply{TimedOut: true, CPUSeconds: 0.3}, false},
		{"CPU limit", Verdict{Status: StatusTimeout}, reply{Signal: sig(syscall.SIGXCPU)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cacheable(tc.v, &tc.r, second); got != tc.want {
				t.Fatalf("cacheable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTimeoutsCachedOnlyWhenSpinning(t *testing.T) {
	p := testPool(t)
	ctx := context.Background()
	const timeout = 300 * time.Millisecond
	tests := "assert f() == 1\n"
	// A sleeping program uses no CPU: its timeout says nothing about the
	// program on another machine, so it is checked again every time.
	sleepy := Check{Program: "import time\ndef f():\n    time.sleep(5)\n    return 1\n", Tests: tests, Timeout: timeout}
	for i := range 2 {
		v, err := p.Run(ctx, sleepy)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusTimeout || v.Cached {
			t.Fatalf("sleep, run %d: status %s cached %v", i+1, v.Status, v.Cached)
		}
	}
	// A spinning program's reply carries the CPU time it burnt.
	r, err := p.exec(ctx, "check", "", "def f():\n    while True:\n        pass\n", tests, timeout)
	if err != nil {
		t.Fatal(err)
	}
	if !r.TimedOut || r.CPUSeconds <= 0 || r.CPUSeconds > 2*timeout.Seconds() {
		t.Fatalf("spin: timed out %v after %.3fs of CPU", r.TimedOut, r.CPUSeconds)
	}
}
