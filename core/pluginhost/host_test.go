package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/lathe-ml/lathe/plugins/tests"
	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/pluginclient"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// The test binary doubles as the "lathe binary" that serves built-ins: the
// host re-executes it as `<test binary> plugin serve NAME`, exactly as it
// re-executes lathe. Its built-ins are the real tests reward and "crashy",
// a reward that misbehaves on request.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "host-and-hang" {
		hostAndHang()
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		switch os.Args[3] {
		case "tests":
			serve.Reward(tests.New())
		case "crashy":
			serve.Reward(crashy{})
		case "future":
			// A plugin built against a later protocol version.
			hs := pluginclient.Handshake
			hs.ProtocolVersion = sdk.ProtocolVersion + 1
			goplugin.Serve(&goplugin.ServeConfig{HandshakeConfig: hs, Plugins: pluginclient.PluginSet(),
				GRPCServer: goplugin.DefaultGRPCServer})
		default:
			fmt.Fprintf(os.Stderr, "unknown built-in plugin %q\n", os.Args[3])
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// crashy is a reward whose Score does what the action says: "panic" panics,
// "spawn" starts a child process and returns its pid, "fail" returns an error.
type crashy struct{}

func (crashy) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (crashy) Configure(context.Context, sdk.Config) error { return nil }
func (crashy) Score(_ context.Context, t sdk.Transition) (sdk.Score, error) {
	switch t.Action {
	case "panic":
		serve.Logger().Warn("about to panic")
		panic("boom in Score")
	case "spawn":
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			return sdk.Score{}, err
		}
		return sdk.Score{Reward: float64(cmd.Process.Pid)}, nil
	case "fail":
		return sdk.Score{}, errors.New("crashy: asked to fail")
	case "log":
		serve.Logger().Info("scored", "action", t.Action)
		fmt.Fprintln(os.Stderr, "raw stderr line")
		fmt.Println("stdout after the handshake")
	}
	return sdk.Score{Reward: 1}, nil
}

func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func newHost(t *testing.T, opts Options) *Host {
	t.Helper()
	if opts.Executable == "" {
		opts.Executable = testExecutable(t)
	}
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Output: testWriter{t}, Level: hclog.Debug})
	}
	h := New(opts)
	t.Cleanup(h.Close)
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// alive reports whether pid names a live process; a zombie is dead (in a
// container nobody may reap a reparented grandchild).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBuiltinRoundTrip(t *testing.T) {
	h := newHost(t, Options{})
	ctx := context.Background()
	inst, err := h.Start(ctx, sdk.KindReward, "solved", "tests")
	if err != nil {
		t.Fatal(err)
	}
	if !inst.Has(pluginclient.CapRewardWithBatch) {
		t.Errorf("capabilities = %v, want RewardWithBatch", inst.Capabilities())
	}
	if _, ok := inst.Reward().(sdk.RewardWithBatch); !ok {
		t.Error("the tests reward advertises ScoreBatch but its value does not implement sdk.RewardWithBatch")
	}
	if _, ok := inst.ConfigValidator(); !ok {
		t.Error("the tests reward advertises ValidateConfig but has no ConfigValidator")
	}
	if inst.Plugin() != sdk.Plugin(inst.Reward()) || inst.Tool() != nil || inst.Model() != nil {
		t.Error("Plugin, Tool and Model do not agree with the kind the plugin was started as")
	}
	cfg, _ := sdk.ConfigFrom(map[string]any{"solved_reward": 2.5})
	if err := inst.Reward().Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tr   sdk.Transition
		want float64
	}{
		{"first pass", sdk.Transition{After: sdk.StepInfo{Valid: true, Solved: true}}, 2.5},
		{"malformed", sdk.Transition{After: sdk.StepInfo{Valid: false}}, -0.5},
		{"plain edit", sdk.Transition{After: sdk.StepInfo{Valid: true}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := inst.Reward().Score(ctx, c.tr)
			if err != nil {
				t.Fatal(err)
			}
			if s.Reward != c.want {
				t.Errorf("reward = %v, want %v", s.Reward, c.want)
			}
		})
	}
	pid := inst.Pid()
	inst.Kill()
	waitDead(t, pid)
}

func TestExternalExecutable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "echoreward")
	build := exec.Command("go", "build", "-o", bin, "./testdata/echoreward")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	h := newHost(t, Options{})
	ctx := context.Background()

	s, err := h.Schema(ctx, sdk.KindReward, bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Attributes) != 1 || s.Attributes[0].Name != "scale" || s.Attributes[0].Default != 1.0 {
		t.Errorf("schema = %+v", s)
	}

	inst, err := h.Start(ctx, sdk.KindReward, "echo", bin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := inst.Reward().Score(ctx, sdk.Transition{Action: "DELL 3"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Reward != 6 {
		t.Errorf("reward = %v, want 6", got.Reward)
	}
	if caps := inst.Capabilities(); len(caps) != 0 {
		t.Errorf("capabilities = %v, want none", caps)
	}
	// What the plugin does not advertise, the value it is handed out as
	// does not claim.
	if _, ok := inst.Reward().(sdk.RewardWithBatch); ok {
		t.Error("the reward of a plugin without ScoreBatch implements sdk.RewardWithBatch")
	}
	if _, ok := inst.ConfigValidator(); ok {
		t.Error("a plugin without ValidateConfig has a ConfigValidator")
	}

	// A reward plugin started as a tool is refused by name.
	_, err = h.Start(ctx, sdk.KindTool, "editor", bin)
	if err == nil || !strings.Contains(err.Error(), "is not a tool plugin") {
		t.Errorf("start as tool: %v", err)
	}
}

func TestPluginErrorIsNotACrash(t *testing.T) {
	h := newHost(t, Options{})
	ctx := context.Background()
	inst, err := h.Start(ctx, sdk.KindReward, "r", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	_, err = inst.Reward().Score(ctx, sdk.Transition{Action: "fail"})
	want := `plugin "r" (crashy): Score: crashy: asked to fail`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	// The plugin is still serving.
	if s, err := inst.Reward().Score(ctx, sdk.Transition{}); err != nil || s.Reward != 1 {
		t.Fatalf("after error: %v, %v", s, err)
	}
}

func TestCrashMidCall(t *testing.T) {
	h := newHost(t, Options{})
	ctx := context.Background()
	inst, err := h.Start(ctx, sdk.KindReward, "solved", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	pid := inst.Pid()
	// A grandchild in the plugin's process group must die with it.
	s, err := inst.Reward().Score(ctx, sdk.Transition{Action: "spawn"})
	if err != nil {
		t.Fatal(err)
	}
	child := int(s.Reward)
	if !alive(child) {
		t.Fatalf("spawned child %d not running", child)
	}

	_, err = inst.Reward().Score(ctx, sdk.Transition{Action: "panic"})
	var crash *CrashError
	if !errors.As(err, &crash) {
		t.Fatalf("error = %v (%T), want *CrashError", err, err)
	}
	msg := err.Error()
	t.Logf("crash error:\n%s", msg)
	for _, want := range []string{
		`plugin "solved" (crashy) crashed: panic: boom in Score (during Score)`,
		"last plugin output:",
		"[WARN] about to panic",
		"goroutine ",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n  | "); n > tailLines {
		t.Errorf("error shows %d log lines, want at most %d", n, tailLines)
	}

	inst.Kill()
	waitDead(t, pid)
	waitDead(t, child)
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("plugin pid %d not reaped: kill(0) = %v", pid, err)
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sleeper := script("sleeper", "echo 'starting up...' >&2\nsleep 300")
	chatty := script("chatty", "echo hello from a shell script")
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "does-not-exist")

	cases := []struct {
		name, plugin string
		want         []string
	}{
		{"handshake timeout", sleeper, []string{
			`plugin "r" (` + sleeper + `) did not complete the plugin handshake within 1s`, "| starting up..."}},
		{"not a plugin", chatty, []string{"is not a Lathe plugin", "hello from a shell script"}},
		{"missing executable", missing, []string{`plugin "r" (` + missing + `): executable:`, "no such file"}},
		{"not executable", noexec, []string{"is not an executable file"}},
		{"newer protocol", "future", []string{
			`plugin "r" (future) speaks another protocol version (host: 1;`, "Plugin version: 2"}},
		{"unknown built-in", "nosuch", []string{
			`plugin "r" (nosuch) exited before completing the handshake`, `unknown built-in plugin "nosuch"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, Options{StartTimeout: time.Second})
			begun := time.Now()
			_, err := h.Start(context.Background(), sdk.KindReward, "r", c.plugin)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			t.Logf("error:\n%v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if took := time.Since(begun); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// The sleeper's `sleep` child shares its process group; a timed-out start
// must not leave it behind.
func TestTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	p := filepath.Join(dir, "sleeper")
	body := "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + "\nwait\n"
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, Options{StartTimeout: 500 * time.Millisecond})
	if _, err := h.Start(context.Background(), sdk.KindTool, "t", p); err == nil {
		t.Fatal("Start succeeded")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	fmt.Sscan(string(b), &child)
	waitDead(t, child)
}

func TestCloseKillsAll(t *testing.T) {
	h := newHost(t, Options{})
	ctx := context.Background()
	var pids []int
	for _, label := range []string{"a", "b"} {
		inst, err := h.Start(ctx, sdk.KindReward, label, "tests")
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, inst.Pid())
	}
	h.Close()
	for _, pid := range pids {
		waitDead(t, pid)
	}
}

// Plugin output reaches the host's logger under the block label, at the
// level the plugin logged it; stdout printed after the handshake is kept.
func TestLogsReachLogger(t *testing.T) {
	var buf safeBuffer
	h := newHost(t, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})})
	ctx := context.Background()
	inst, err := h.Start(ctx, sdk.KindReward, "solved", "crashy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Reward().Score(ctx, sdk.Transition{Action: "log"}); err != nil {
		t.Fatal(err)
	}
	wants := []string{"[INFO]  solved: scored: action=log", "solved: raw stderr line", "solved: stdout after the handshake"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing := ""
		for _, w := range wants {
			if !strings.Contains(buf.String(), w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", missing, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStartHonoursContext(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	p := filepath.Join(dir, "sleeper")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, Options{StartTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begun := time.Now()
	_, err := h.Start(ctx, sdk.KindModel, "policy", p)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `plugin "policy"`) {
		t.Fatalf("error = %v", err)
	}
	if took := time.Since(begun); took > 5*time.Second {
		t.Errorf("Start returned after %v", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	waitDead(t, pid)
}

// hostAndHang is the test binary acting as a host that starts a plugin,
// reports its pid on stdout and hangs until it is killed.
func hostAndHang() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	inst, err := New(Options{Executable: exe}).Start(context.Background(), sdk.KindReward, "r", "tests")
	if err != nil {
		panic(err)
	}
	fmt.Println(inst.Pid())
	select {}
}

// A host killed with SIGKILL cannot clean up; the kernel kills its plugins.
func TestHostDeathKillsPlugins(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signal is Linux only")
	}
	cmd := exec.Command(testExecutable(t), "host-and-hang")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("reading plugin pid: %v", err)
	}
	if !alive(pid) {
		t.Fatalf("plugin %d not running", pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitDead(t, pid)
}
