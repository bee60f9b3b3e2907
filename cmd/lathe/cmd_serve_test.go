package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/core/train"
	"github.com/lathe-ml/lathe/plugins/transformer"
	"github.com/lathe-ml/lathe/sdk"
)

// syncBuffer is a bytes.Buffer safe to write from one goroutine while
// another reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tinyCheckpoint saves a randomly initialised transformer as a stage's
// checkpoint, as an sft stage would.
func tinyCheckpoint(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	opts := map[string]any{"layers": 1.0, "d_model": 16.0, "heads": 2.0, "context": 256.0, "vocab": 270.0, "seed": 5.0}
	cfg, _ := sdk.ConfigFrom(opts)
	m := transformer.New()
	m.SetLogger(hclog.NewNullLogger())
	if err := m.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "stages", "sft", "checkpoints")
	raw, _ := json.Marshal(opts)
	ck, err := train.SaveCheckpoint(ctx, m, dir, train.Cursor{Stage: "sft", StageKind: "sft", Step: 1, Plugin: "transformer", Config: raw})
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

// startServe runs `lathe serve` until the returned stop is called; it
// returns the API's base URL and stop, which reports runServe's error.
func startServe(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args, io.Discard, &stderr) }()
	re := regexp.MustCompile(`at (http://\S+/v1)`)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(2 * time.Minute):
					return errors.New("lathe serve did not stop")
				}
			}
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("lathe serve ended: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("lathe serve did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeThenEval serves a checkpoint with `lathe serve` and evaluates it
// through the openai plugin (`lathe eval --model FILE.hcl`): the result
// rows equal those of `lathe eval --checkpoint` on the same tasks.
func TestServeThenEval(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugins and plays episodes")
	}
	ck := tinyCheckpoint(t)
	t.Setenv("LATHE_TEST_SERVE_KEY", "sesame")
	base, stop := startServe(t, "--checkpoint", filepath.Dir(ck), "--addr", "127.0.0.1:0", "--api-key-env", "LATHE_TEST_SERVE_KEY")

	modelFile := filepath.Join(t.TempDir(), "served.hcl")
	src := fmt.Sprintf(`model "served" {
  plugin      = "openai"
  base_url    = %q
  model       = "lathe-sft"
  endpoint    = var.endpoint
  api_key_env = "LATHE_TEST_SERVE_KEY"
}
variable "endpoint" {
  type    = string
  default = "completions"
}
`, base)
	if err := os.WriteFile(modelFile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--tasks", "builtin:basic", "--split", "test", "--max-tasks", "3", "--samples", "1", "--k", "1",
		"--temperature", "0", "--max-turns", "2", "--max-tokens", "16", "--format", "json"}
	eval := func(args ...string) map[string]any {
		t.Helper()
		var out, errb bytes.Buffer
		if code := mainWithExit(append(append([]string{"eval"}, args...), common...), &out, &errb); code != 0 {
			t.Fatalf("lathe eval %v: exit %d\n%s", args, code, errb.String())
		}
		var sets []struct {
			Rows []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(out.Bytes(), &sets); err != nil || len(sets) != 1 || len(sets[0].Rows) != 1 {
			t.Fatalf("output %s: %v", out.String(), err)
		}
		row := sets[0].Rows[0]
		for _, k := range []string{"eval", "stage", "stage_kind", "model", "wall_s"} {
			delete(row, k) // names and timing, not outcomes
		}
		return row
	}
	direct := eval("--checkpoint", ck)
	t.Logf("direct: %v", direct)
	for _, endpoint := range []string{"completions", "chat"} {
		served := eval("--model", modelFile, "-var", "endpoint="+endpoint)
		if !jsonEqual(direct, served) {
			t.Errorf("%s: served row\n%v\ndirect row\n%v", endpoint, served, direct)
		}
	}

	// An experiment's eval block without checkpoints evaluates the served
	// model as configured, with the same outcome.
	exp := filepath.Join(t.TempDir(), "exp.hcl")
	expSrc := `experiment "served" { seed = 1 }
dataset "basic" { source = "builtin:basic" }
tool "editor" { plugin = "coedit" }
` + strings.Replace(src, "var.endpoint", `"completions"`, 1) + `
eval "coe" {
  model       = model.served
  tool        = tool.editor
  dataset     = dataset.basic
  split       = "test"
  k           = [1]
  samples     = 1
  temperature = 0
  max_turns   = 2
  max_tokens  = 16
  max_tasks   = 3
}
`
	if err := os.WriteFile(exp, []byte(expSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := mainWithExit([]string{"run", exp, "--out", filepath.Join(t.TempDir(), "run"), "--format", "json"}, &out, &errb); code != 0 {
		t.Fatalf("lathe run: exit %d\n%s", code, errb.String())
	}
	var sets []struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(out.Bytes(), &sets); err != nil || len(sets) != 1 || len(sets[0].Rows) != 1 {
		t.Fatalf("lathe run output %s: %v", out.String(), err)
	}
	row := sets[0].Rows[0]
	if row["model"] != "served" {
		t.Errorf("row names model %v, want served", row["model"])
	}
	for _, k := range []string{"greedy_pass@1", "pass_at", "mean_turns", "tokens", "tasks"} {
		if !jsonEqual(row[k], direct[k]) {
			t.Errorf("lathe run: %s = %v, lathe eval --checkpoint: %v", k, row[k], direct[k])
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestServeShutdown: cancelling lathe serve's context (what SIGTERM and
// Ctrl-C do) answers the request in flight, then stops listening.
func TestServeShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a plugin")
	}
	base, stop := startServe(t, "--checkpoint", tinyCheckpoint(t), "--addr", "127.0.0.1:0")
	body := `{"model": "lathe-sft", "prompt": "def f(x):\n", "max_tokens": 200, "n": 16, "temperature": 1}`
	wrote := make(chan struct{})
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", base+"/completions", strings.NewReader(body))
	type answer struct {
		status int
		body   string
		err    error
	}
	got := make(chan answer, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- answer{status: res.StatusCode, body: string(b)}
	}()
	<-wrote
	// The listener accepts connections in order: once a later connection
	// is answered, the request's own has been accepted, and a stopping
	// server answers it instead of dropping it from the listen queue.
	later := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := later.Get(base + "/models"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.status != 200 || strings.Count(a.body, `"finish_reason"`) != 16 {
		t.Errorf("request in flight: %d %v %.200s", a.status, a.err, a.body)
	}
	if _, err := http.Get(base + "/models"); err == nil {
		t.Error("the server still answers after stopping")
	}
}

func TestServeAndEvalFlagErrors(t *testing.T) {
	t.Setenv("LATHE_UNSET", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--checkpoint is required"},
		{[]string{"serve", "--checkpoint", "/nonexistent"}, "/nonexistent"},
		{[]string{"serve", "--checkpoint", "x", "--api-key-env", "LATHE_UNSET"}, "LATHE_UNSET, which is not set"},
		{[]string{"eval", "--tasks", "builtin:basic"}, "one of --checkpoint, --model and --model-plugin"},
		{[]string{"eval", "--tasks", "builtin:basic", "--checkpoint", "a", "--model-plugin", "openai"}, "one of --checkpoint, --model and --model-plugin"},
		{[]string{"eval", "--tasks", "builtin:basic", "--checkpoint", "a", "--model-option", "x=1"}, "--model-option needs --model-plugin"},
		{[]string{"eval", "--tasks", "builtin:basic", "--max-tasks", "1", "--model-plugin", "openai", "--model-option", "base_url=http://127.0.0.1:1/v1"},
			"needs --model-option model=VALUE"},
		{[]string{"eval", "--tasks", "builtin:basic", "--max-tasks", "1", "--model-plugin", "openai", "--model-option", "modle=x"},
			`has no option "modle"; it takes base_url, model,`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := mainWithExit(tt.args, &out, &errb); code == 0 || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want an error containing %q", code, errb.String(), tt.want)
			}
		})
	}
}

// TestEvalModelFileDiagnostics: a mistake in --model FILE is reported with
// its position, as in an experiment.
func TestEvalModelFileDiagnostics(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, src, want string }{
		{"option typo", "model \"m\" {\n  plugin   = \"openai\"\n  base_url = \"http://h/v1\"\n  modle    = \"x\"\n}\n", ":4:3: error: Unsupported argument"},
		{"no model block", "tool \"t\" {\n  plugin = \"coedit\"\n}\n", "error: No model block"},
		{"two model blocks", "model \"a\" {\n  plugin = \"openai\"\n}\nmodel \"b\" {\n  plugin = \"openai\"\n}\n", `The file holds the model blocks "a", "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".hcl")
			if err := os.WriteFile(f, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := mainWithExit([]string{"eval", "--tasks", "builtin:basic", "--max-tasks", "1", "--model", f}, &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", code, errb.String(), tt.want)
			}
		})
	}
}
