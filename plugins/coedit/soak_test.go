package coedit

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lathe-ml/lathe/core/pluginhost"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// The test binary doubles as the lathe binary: the plugin host re-executes
// it as `<test binary> plugin serve coedit`, so TestSoak plays its sessions
// through a real go-plugin process, as a run does.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		if os.Args[3] != Name {
			fmt.Fprintf(os.Stderr, "unknown built-in plugin %q\n", os.Args[3])
			os.Exit(1)
		}
		serve.Tool(New())
		return
	}
	os.Exit(m.Run())
}

const soakTests = "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 5) == 4\n"

// soakHostile are programs that attack the sandbox, the worker that runs
// them or the tool's output handling. Each must end as a failed check (or a
// timeout), never as an error of the tool, a stuck session or a leak.
var soakHostile = []struct {
	name, program string
}{
	{"memory", "x = bytearray(1 << 34)\n"},
	{"fork", "import os, time\nfor _ in range(20):\n    if os.fork() == 0:\n        time.sleep(30)\n        os._exit(0)\n"},
	{"threads", "import threading, time\nfor _ in range(50):\n    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"},
	{"files", "import os\nfor d in ('/tmp', '.', os.path.expanduser('~')):\n    try:\n        open(os.path.join(d, 'soak-left-behind'), 'w').write('x' * 100000)\n    except OSError:\n        pass\n"},
	{"output", "print('x' * 5_000_000)\nimport sys\nsys.stderr.write('y' * 5_000_000)\n"},
	{"invalid utf-8", "import os\nos.write(1, b'\\xff\\xfe\\xfa\\n')\nos.write(2, b'\\xc3\\x28')\nprint('\\udcff')\ndef add(a, b):\n    return a + b + 1\n"},
	{"exit", "import os\nos._exit(3)\n"},
	{"system exit", "raise SystemExit(0)\n"},
	{"kill parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"},
	{"close fds", "import os\nos.closerange(0, 4096)\n"},
	{"recursion", "def add(a, b):\n    return add(a, b)\n"},
	{"stdin", "import sys\nsys.stdin.read()\n"},
	{"bad source", "def add(a, b)\n    return a +\n"},
	{"nul byte", "def add(a, b):\n    return a + b\x00\n"},
}

// soakMalformed are commands a model may write that the tool must refuse,
// each using up a turn and changing nothing.
var soakMalformed = []string{"FOO 1", "REPL", "REPL 0 >>>x", "DELL 99", "REPW 1 >>>zzz >>>y", "ADDL -3 >>>x",
	"ÆØÅ 💥", "REPL 1" + strings.Repeat(" 1", 2000), "DELL 1 2 3", ">>>", "EXIT now"}

// soakCounts is what a soak played, for its figures.
type soakCounts struct {
	sessions, checks, steps, solved, timeouts atomic.Int64
	kinds                                     [4]atomic.Int64 // correct, broken, malformed, hostile
}

// playSoakSession plays session i: its kind and program follow from i, so
// the mix is the same on every run.
func playSoakSession(ctx context.Context, tool sdk.Tool, i int, n *soakCounts) error {
	task := sdk.Task{ID: fmt.Sprintf("soak/%d", i), Tests: soakTests}
	// Programs repeat every 40 sessions, so the tool's check cache helps
	// as it does in a run; hostile ones never repeat: each is run.
	variant := fmt.Sprintf("# variant %d\n", i%40)
	var actions []string
	kind := i % 10
	switch {
	case kind < 2: // correct: the tests pass at once
		task.Program = variant + "def add(a, b):\n    return a + b\n"
		actions = []string{"EXIT"}
		n.kinds[0].Add(1)
	case kind < 5: // broken: repaired with one command
		task.Program = variant + "def add(a, b):\n    return a - b\n"
		actions = []string{"REPL 3 >>>    return a + b", "EXIT"}
		n.kinds[1].Add(1)
	case kind < 7: // malformed commands, then the repair
		task.Program = variant + "def add(a, b):\n    return a - b\n"
		for j := range 3 {
			actions = append(actions, soakMalformed[(i+j)%len(soakMalformed)])
		}
		actions = append(actions, "REPL 3 >>>    return a + b", "EXIT")
		n.kinds[2].Add(1)
	default: // hostile
		h := soakHostile[i%len(soakHostile)]
		// One session in a hundred runs forever, to time out: each costs
		// the whole timeout_s.
		if i%100 == 99 {
			h.name, h.program = "infinite loop", "while True:\n    pass\n"
			n.timeouts.Add(1)
		}
		task.Program = fmt.Sprintf("# session %d: %s\n%s", i, h.name, h.program)
		actions = []string{"DELL 1", "EXIT"}
		n.kinds[3].Add(1)
	}
	reset, err := tool.Reset(ctx, sdk.ResetRequest{Task: task})
	if err != nil {
		return fmt.Errorf("session %d: reset: %w", i, err)
	}
	defer tool.Close(ctx, reset.Session)
	n.checks.Add(1)
	wantSolved := kind < 7
	solved := reset.Observation.Info.Solved
	// Every third session steps through StepBatch, as rollouts do.
	batch, _ := tool.(sdk.ToolWithBatch)
	for _, a := range actions {
		var resp sdk.StepResponse
		req := sdk.StepRequest{Session: reset.Session, Action: a}
		if batch != nil && i%3 == 0 {
			var rs []sdk.StepResponse
			if rs, err = batch.StepBatch(ctx, []sdk.StepRequest{req}); err == nil {
				resp = rs[0]
			}
		} else {
			resp, err = tool.Step(ctx, req)
		}
		if err != nil {
			return fmt.Errorf("session %d: step %.80q: %w", i, a, err)
		}
		n.steps.Add(1)
		info := resp.Observation.Info
		if info.Valid && a != "EXIT" {
			n.checks.Add(1)
		}
		if kind >= 5 && kind < 7 && a != "EXIT" && !strings.HasPrefix(a, "REPL 3 ") && info.Valid {
			return fmt.Errorf("session %d: malformed command %.80q accepted", i, a)
		}
		solved = solved || info.Solved
		if resp.Observation.Done {
			break
		}
	}
	if solved != wantSolved {
		return fmt.Errorf("session %d (%s): solved = %v, want %v", i, task.Program, solved, wantSolved)
	}
	n.sessions.Add(1)
	if solved {
		n.solved.Add(1)
	}
	return nil
}

// procSnapshot is what the host and its descendants hold at one moment.
type procSnapshot struct {
	goroutines int
	hostFDs    int
	pluginFDs  int
	procs      int // descendants of the test process: the plugin and its pool
	hostRSS    int64
	pluginRSS  int64 // the plugin process and all its descendants
	tmpFiles   []string
}

func snapshot(t *testing.T, pluginPid int, tmp string) procSnapshot {
	t.Helper()
	s := procSnapshot{goroutines: runtime.NumGoroutine(), hostFDs: countDir("/proc/self/fd"),
		pluginFDs: countDir(fmt.Sprintf("/proc/%d/fd", pluginPid)), hostRSS: rssOf(os.Getpid())}
	desc := descendants(os.Getpid())
	s.procs = len(desc)
	for _, p := range desc {
		if p == pluginPid || isDescendant(p, pluginPid) {
			s.pluginRSS += rssOf(p)
		}
	}
	filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(tmp, p)
			s.tmpFiles = append(s.tmpFiles, rel)
		}
		return nil
	})
	return s
}

func countDir(dir string) int {
	es, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	return len(es)
}

// parents maps every visible pid to its parent.
func parents() map[int]int {
	out := map[int]int{}
	es, _ := os.ReadDir("/proc")
	for _, e := range es {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := b[bytes.LastIndexByte(b, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) >= 2 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				out[pid] = pp
			}
		}
	}
	return out
}

func descendants(root int) []int {
	pp := parents()
	var out []int
	for pid := range pp {
		for p := pp[pid]; p > 1; p = pp[p] {
			if p == root {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func isDescendant(pid, root int) bool {
	pp := parents()
	for p := pp[pid]; p > 1; p = pp[p] {
		if p == root {
			return true
		}
	}
	return false
}

// rssOf is the resident set of pid in bytes, 0 when it is gone.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestSoak plays coedit sessions through the plugin host, a mix of correct,
// broken, malformed-command and hostile programs, four at a time (every
// third session stepping through StepBatch), and then requires that nothing
// leaked: the same processes (the plugin and its sandbox pool), descriptors
// and goroutines as after the warm-up, resident memory within bounds, and no
// file in the temporary directory but the pool's own; after the host
// closes, no process and no file at all. By default it plays 300 sessions;
// LATHE_LONG=1 plays 10,000 (and LATHE_SOAK_SESSIONS=N any number).
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("plays hundreds of sandboxed sessions; skipped in -short mode")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH: the sandbox cannot start")
	}
	sessions := 300
	if os.Getenv("LATHE_LONG") != "" {
		sessions = 10000
	}
	if s := os.Getenv("LATHE_SOAK_SESSIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("LATHE_SOAK_SESSIONS=%q: %v", s, err)
		}
		sessions = n
	}
	// The plugin, its pool and go-plugin's sockets all use TMPDIR: a
	// directory of the test's own shows what they leave.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h := pluginhost.New(pluginhost.Options{Executable: exe})
	closed := false
	defer func() {
		if !closed {
			h.Close()
		}
	}()
	inst, err := h.Start(ctx, sdk.KindTool, "editor", Name)
	if err != nil {
		t.Fatal(err)
	}
	tool := inst.Tool()
	if _, ok := tool.(sdk.ToolWithBatch); !ok {
		t.Fatal("the coedit plugin does not advertise ToolWithBatch")
	}
	cfg, err := sdk.ConfigFrom(map[string]any{"max_turns": 8.0, "timeout_s": 1.0, "workers": 2.0})
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	var warm soakCounts
	play := func(from, to int, n *soakCounts) error {
		next := make(chan int)
		errs := make(chan error, 4)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for i := range next {
					if err := playSoakSession(ctx, tool, i, n); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			})
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		close(errs)
		return <-errs
	}
	// The warm-up starts the pool and plays every kind of session once,
	// so the baseline holds the pool's processes and files.
	if err := play(0, 40, &warm); err != nil {
		t.Fatal(err)
	}
	base := settle(t, inst.Pid(), tmp, nil)

	var n soakCounts
	t0 := time.Now()
	if err := play(40, 40+sessions, &n); err != nil {
		t.Fatal(err)
	}
	wall := time.Since(t0)
	after := settle(t, inst.Pid(), tmp, &base)

	t.Logf("soak: %d sessions (%d correct, %d broken, %d malformed, %d hostile, %d of them timeouts), %d checks, %d steps, %d solved, %s (%.0f sessions/s)",
		n.sessions.Load(), n.kinds[0].Load(), n.kinds[1].Load(), n.kinds[2].Load(), n.kinds[3].Load(), n.timeouts.Load(),
		n.checks.Load(), n.steps.Load(), n.solved.Load(), wall.Round(time.Millisecond), float64(n.sessions.Load())/wall.Seconds())
	t.Logf("soak: processes %d -> %d, host descriptors %d -> %d, plugin descriptors %d -> %d, goroutines %d -> %d",
		base.procs, after.procs, base.hostFDs, after.hostFDs, base.pluginFDs, after.pluginFDs, base.goroutines, after.goroutines)
	t.Logf("soak: RSS host %.1f -> %.1f MiB, plugin and pool %.1f -> %.1f MiB; temp files %d -> %d",
		mib(base.hostRSS), mib(after.hostRSS), mib(base.pluginRSS), mib(after.pluginRSS), len(base.tmpFiles), len(after.tmpFiles))

	if int(n.sessions.Load()) != sessions {
		t.Errorf("%d of %d sessions finished", n.sessions.Load(), sessions)
	}
	for _, c := range []struct {
		what        string
		before, now int
	}{
		{"processes", base.procs, after.procs},
		{"host descriptors", base.hostFDs, after.hostFDs},
		{"plugin descriptors", base.pluginFDs, after.pluginFDs},
		{"goroutines", base.goroutines, after.goroutines},
	} {
		if c.now > c.before {
			t.Errorf("%s: %d after the soak, %d before", c.what, c.now, c.before)
		}
	}
	// Bounds on growth, not on size: the pool's interpreters and the
	// tool's check cache are there from the warm-up on.
	const maxGrowth = 128 << 20
	if g := after.hostRSS - base.hostRSS; g > maxGrowth {
		t.Errorf("host RSS grew by %.1f MiB", mib(g))
	}
	if g := after.pluginRSS - base.pluginRSS; g > maxGrowth {
		t.Errorf("plugin and pool RSS grew by %.1f MiB", mib(g))
	}
	if left := newFiles(base.tmpFiles, after.tmpFiles); len(left) > 0 {
		t.Errorf("files left in TMPDIR: %v", left)
	}

	h.Close()
	closed = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, files := descendants(os.Getpid()), snapshot(t, 0, tmp).tmpFiles
		if len(procs) == 0 && len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after the host closed: processes %v, files %v", procs, files)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits until the counts are back to base (at most 15 s: a killed
// worker is replaced in the background) and returns the last snapshot;
// with base nil it waits for two equal snapshots in a row.
func settle(t *testing.T, pid int, tmp string, base *procSnapshot) procSnapshot {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	prev := snapshot(t, pid, tmp)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		s := snapshot(t, pid, tmp)
		if base == nil && s.procs == prev.procs && s.hostFDs == prev.hostFDs && s.pluginFDs == prev.pluginFDs &&
			s.goroutines == prev.goroutines && len(s.tmpFiles) == len(prev.tmpFiles) {
			return s
		}
		if base != nil && s.procs <= base.procs && s.hostFDs <= base.hostFDs && s.pluginFDs <= base.pluginFDs &&
			s.goroutines <= base.goroutines && len(newFiles(base.tmpFiles, s.tmpFiles)) == 0 {
			return s
		}
		prev = s
	}
	return prev
}

func newFiles(before, after []string) []string {
	had := map[string]bool{}
	for _, f := range before {
		had[f] = true
	}
	var out []string
	for _, f := range after {
		if !had[f] {
			out = append(out, f)
		}
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
