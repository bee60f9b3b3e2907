package openai

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/sdk"
)

// configured returns a plugin configured against url with opts over the
// defaults, backing off 1 ms instead of 0.5 s so retries are quick.
func configured(t *testing.T, url string, opts map[string]any) *Model {
	t.Helper()
	base := map[string]any{"base_url": url, "model": "m"}
	for k, v := range opts {
		base[k] = v
	}
	cfg, err := sdk.ConfigFrom(base)
	if err != nil {
		t.Fatal(err)
	}
	m := New()
	m.SetLogger(hclog.NewNullLogger())
	if err := m.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	m.client.base = time.Millisecond
	return m
}

const okCompletion = `{"choices": [{"text": "DELL 1", "finish_reason": "stop", "logprobs": {"token_logprobs": [-0.5, -0.25]}}]}`

// TestMisbehavingServers: every way a server can fail ends the Generate
// call, promptly, with an error that names the cause; what a retry can
// fix is retried.
func TestMisbehavingServers(t *testing.T) {
	tests := []struct {
		name string
		// handler answers attempt n (0-based).
		handler  func(w http.ResponseWriter, r *http.Request, n int)
		opts     map[string]any
		attempts int    // requests the server must see
		want     string // substring of the error; "" means success
		minWait  time.Duration
	}{
		{"500 then success", func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 0 {
				http.Error(w, `{"error": {"message": "warming up", "type": "server_error"}}`, 500)
				return
			}
			io.WriteString(w, okCompletion)
		}, nil, 2, "", 0},
		{"500 every time", func(w http.ResponseWriter, _ *http.Request, _ int) {
			http.Error(w, `{"error": {"message": "CUDA out of memory", "type": "server_error"}}`, 500)
		}, map[string]any{"retries": 2.0}, 3, "500 Internal Server Error: CUDA out of memory (type server_error) (gave up after 3 attempts)", 0},
		{"429 honours Retry-After", func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 0 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"error": {"message": "slow down"}}`, 429)
				return
			}
			io.WriteString(w, okCompletion)
		}, nil, 2, "", time.Second},
		{"Retry-After too long", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, `{"error": {"message": "quota"}}`, 429)
		}, nil, 1, "asks to retry after 1h0m0s", 0},
		{"hangs", func(w http.ResponseWriter, r *http.Request, _ int) {
			hang(r)
		}, map[string]any{"timeout_s": 0.2, "retries": 1.0}, 2, "no answer within timeout_s = 0.2 (gave up after 2 attempts)", 0},
		{"closes the connection", func(w http.ResponseWriter, _ *http.Request, _ int) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, map[string]any{"retries": 1.0}, 2, "the server closed the connection without a complete answer", 0},
		{"closes mid-answer", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Length", "500")
			io.WriteString(w, `{"choices": [{"text": "DE`)
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, map[string]any{"retries": 1.0}, 2, "the server closed the connection without a complete answer", 0},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request, _ int) {
			io.WriteString(w, "<html>proxy login</html>")
		}, nil, 1, "the answer is not the API's JSON", 0},
		{"no choices", func(w http.ResponseWriter, _ *http.Request, _ int) {
			io.WriteString(w, `{"choices": []}`)
		}, nil, 1, "the answer has no choices", 0},
		{"unknown model", func(w http.ResponseWriter, _ *http.Request, _ int) {
			http.Error(w, `{"error": {"message": "The model 'm' does not exist", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}`, 404)
		}, nil, 1, "404 Not Found: The model 'm' does not exist (type invalid_request_error, param model, code model_not_found)", 0},
		{"max_tokens out of range", func(w http.ResponseWriter, _ *http.Request, _ int) {
			http.Error(w, `{"error": {"message": "max_tokens must be at least 1, got -5", "type": "invalid_request_error", "param": "max_tokens"}}`, 400)
		}, nil, 1, "400 Bad Request: max_tokens must be at least 1, got -5", 0},
		{"max_tokens larger than the window", func(w http.ResponseWriter, _ *http.Request, _ int) {
			http.Error(w, `{"error": {"message": "max_tokens = 4096 does not fit the model's context window of 512 tokens with any prompt", "type": "invalid_request_error", "param": "max_tokens", "code": "context_length_exceeded"}}`, 400)
		}, nil, 1, "does not fit the model's context window of 512 tokens", 0},
		{"no API key", func(w http.ResponseWriter, _ *http.Request, _ int) {
			http.Error(w, `{"error": {"message": "missing API key"}}`, 401)
		}, nil, 1, "name its environment variable in api_key_env", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(w, r, int(n.Add(1))-1)
			}))
			defer ts.Close()
			m := configured(t, ts.URL+"/v1", merge(map[string]any{"endpoint": "completions"}, tt.opts))
			t0 := time.Now()
			resp, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"L 1 x\n$ "},
				Sampling: sdk.Sampling{MaxTokens: 16, Stop: []string{"\n"}}})
			took := time.Since(t0)
			if got := int(n.Load()); got != tt.attempts {
				t.Errorf("the server saw %d attempts, want %d", got, tt.attempts)
			}
			if took < tt.minWait {
				t.Errorf("took %s, want at least %s", took, tt.minWait)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.Completions[0]; got.Text != "DELL 1\n" || got.StopReason != "stop" {
					t.Errorf("completion = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "openai: context 1 of 1: ") {
				t.Errorf("err = %v, want it to name the context", err)
			}
		})
	}
}

// hang answers nothing until the client goes away. The body is read
// first: the server only watches a connection for its client closing once
// the request body has been consumed.
func hang(r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second): // never hold up the test's end
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestConnectionRefused(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	m := configured(t, url+"/v1", map[string]any{"retries": 1.0})
	_, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"x"}})
	if err == nil || !strings.Contains(err.Error(), "cannot connect (is the server running?)") {
		t.Fatalf("err = %v", err)
	}
}

// TestCallerCancels: cancelling the Generate call ends it at once, and it
// is not retried.
func TestCallerCancels(t *testing.T) {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		n.Add(1)
		hang(r)
	}))
	defer ts.Close()
	m := configured(t, ts.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := m.Generate(ctx, sdk.GenerateRequest{Contexts: []string{"a", "b", "c"}})
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Fatalf("err = %v", err)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d requests, want 3 (one per context, none retried)", got)
	}
}

// TestContextTooLong: the servers' ways of refusing a prompt longer than
// their window end the episode as an overflow, not the eval.
func TestContextTooLong(t *testing.T) {
	for name, body := range map[string]string{
		"openai":    `{"error": {"message": "This model's maximum context length is 4096 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}`,
		"vllm":      `{"object": "error", "message": "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens.", "type": "BadRequestError", "code": 400}`,
		"llama.cpp": `{"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it", "type": "exceed_context_size_error"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, body, 400) }))
			defer ts.Close()
			resp, err := configured(t, ts.URL, nil).Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"x"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Completions[0]; got.StopReason != "context" || got.Text != "" {
				t.Errorf("completion = %+v, want StopReason context", got)
			}
		})
	}
}

// TestRequests pins what each endpoint sends.
func TestRequests(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	auth := map[string]bool{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, body)
		auth[r.URL.Path+" "+r.Header.Get("Authorization")] = true
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			io.WriteString(w, `{"choices": [{"message": {"role": "assistant", "content": "EXIT"}, "finish_reason": "stop"}]}`)
			return
		}
		io.WriteString(w, okCompletion)
	}))
	defer ts.Close()
	t.Setenv("LATHE_TEST_KEY", "sk-test")
	msgs := [][]sdk.Message{
		{{Role: sdk.RoleUser, Content: "Fix.\ns0\n"}},
		{{Role: sdk.RoleUser, Content: "Fix.\ns0\n"}, {Role: sdk.RoleAssistant, Content: "DELL 1"}, {Role: sdk.RoleUser, Content: "s1\n"}},
	}
	req := sdk.GenerateRequest{Contexts: []string{"Fix.\ns0\n$ ", "Fix.\ns0\n$ DELL 1\ns1\n$ "}, Messages: msgs,
		Sampling: sdk.Sampling{Temperature: 0, TopP: 0.9, MaxTokens: 96, Stop: []string{"\n"}, Seed: 40}}
	tests := []struct {
		endpoint string
		req      sdk.GenerateRequest
		want     []map[string]any
	}{
		{"completions", req, []map[string]any{
			{"model": "m", "prompt": "Fix.\ns0\n$ ", "max_tokens": 96.0, "temperature": 0.0, "top_p": 0.9, "stop": []any{"\n"}, "seed": 40.0, "logprobs": 0.0},
			{"model": "m", "prompt": "Fix.\ns0\n$ DELL 1\ns1\n$ ", "max_tokens": 96.0, "temperature": 0.0, "top_p": 0.9, "stop": []any{"\n"}, "seed": 41.0, "logprobs": 0.0},
		}},
		{"chat", req, []map[string]any{
			{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "Fix.\ns0\n"}},
				"max_tokens": 96.0, "temperature": 0.0, "top_p": 0.9, "stop": []any{"\n"}, "seed": 40.0, "logprobs": true},
			{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "Fix.\ns0\n"}, map[string]any{"role": "assistant", "content": "DELL 1"}, map[string]any{"role": "user", "content": "s1\n"}},
				"max_tokens": 96.0, "temperature": 0.0, "top_p": 0.9, "stop": []any{"\n"}, "seed": 41.0, "logprobs": true},
		}},
		// Without turns, chat sends the text as one user message; max_tokens
		// 0 leaves the limit to the server.
		{"chat", sdk.GenerateRequest{Contexts: []string{"plain"}, Sampling: sdk.Sampling{Temperature: 1}}, []map[string]any{
			{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "plain"}}, "temperature": 1.0, "seed": 0.0, "logprobs": true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			got = nil
			m := configured(t, ts.URL+"/v1/", map[string]any{"endpoint": tt.endpoint, "api_key_env": "LATHE_TEST_KEY", "concurrency": 1.0})
			resp, err := m.Generate(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Completions) != len(tt.want) {
				t.Fatalf("%d completions", len(resp.Completions))
			}
			// Requests run concurrently: order them by seed (context index).
			sort.Slice(got, func(i, j int) bool { return got[i]["seed"].(float64) < got[j]["seed"].(float64) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sent\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
	if !auth["/v1/completions Bearer sk-test"] || !auth["/v1/chat/completions Bearer sk-test"] {
		t.Errorf("requests carried %v, want the key as a bearer token on both paths", auth)
	}
}

// TestCompletions pins how an answer becomes an sdk.Completion.
func TestCompletions(t *testing.T) {
	tests := []struct {
		name, endpoint, body string
		sampling             sdk.Sampling
		want                 sdk.Completion
	}{
		{"stop string put back", "completions", `{"choices": [{"text": "DELL 1", "finish_reason": "stop"}]}`,
			sdk.Sampling{Stop: []string{"\n"}}, sdk.Completion{Text: "DELL 1\n", StopReason: "stop"}},
		{"the stop string vLLM names", "completions", `{"choices": [{"text": "x", "finish_reason": "stop", "stop_reason": "\nEND\n"}]}`,
			sdk.Sampling{Stop: []string{"\nEXIT\n", "\nEND\n"}}, sdk.Completion{Text: "x\nEND\n", StopReason: "stop"}},
		{"a server that keeps the stop string", "completions", `{"choices": [{"text": "EXIT\n", "finish_reason": "stop"}]}`,
			sdk.Sampling{Stop: []string{"\n"}}, sdk.Completion{Text: "EXIT\n", StopReason: "stop"}},
		{"max_tokens reached", "completions", `{"choices": [{"text": "REPL", "finish_reason": "length", "logprobs": {"token_logprobs": [-1, -2]}}]}`,
			sdk.Sampling{MaxTokens: 2, Stop: []string{"\n"}}, sdk.Completion{Text: "REPL", StopReason: "length", Logprobs: []float64{-1, -2}}},
		{"window full before max_tokens", "completions", `{"choices": [{"text": "RE", "finish_reason": "length"}], "usage": {"completion_tokens": 1}}`,
			sdk.Sampling{MaxTokens: 96}, sdk.Completion{Text: "RE", StopReason: "context"}},
		{"chat with log-probs", "chat", `{"choices": [{"message": {"content": "EXIT"}, "finish_reason": "stop", "logprobs": {"content": [{"token": "EX", "logprob": -0.1}, {"token": "IT", "logprob": -0.2}]}}]}`,
			sdk.Sampling{Stop: []string{"\n"}}, sdk.Completion{Text: "EXIT\n", StopReason: "stop", Logprobs: []float64{-0.1, -0.2}}},
		{"chat refusal without content", "chat", `{"choices": [{"message": {"content": null}, "finish_reason": "content_filter"}]}`,
			sdk.Sampling{Stop: []string{"\n"}}, sdk.Completion{Text: "", StopReason: "stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, tt.body) }))
			defer ts.Close()
			resp, err := configured(t, ts.URL, map[string]any{"endpoint": tt.endpoint}).Generate(context.Background(),
				sdk.GenerateRequest{Contexts: []string{"x"}, Sampling: tt.sampling})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Completions[0]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("completion = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("LATHE_UNSET_KEY", "")
	tests := []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"model": "m"}, "base_url is required"},
		{map[string]any{"base_url": "127.0.0.1:8000", "model": "m"}, "is not an http(s) URL"},
		{map[string]any{"base_url": "http://h/v1"}, "model is required"},
		{map[string]any{"base_url": "http://h/v1", "model": "m", "endpoint": "responses"}, `endpoint must be "chat" or "completions", got "responses"`},
		{map[string]any{"base_url": "http://h/v1", "model": "m", "concurrency": 0.0}, "concurrency must be at least 1"},
		{map[string]any{"base_url": "http://h/v1", "model": "m", "timeout_s": 0.0}, "timeout_s must be positive"},
		{map[string]any{"base_url": "http://h/v1", "model": "m", "retries": -1.0}, "retries must be 0 or more"},
		{map[string]any{"base_url": "http://h/v1", "model": "m", "api_key_env": "LATHE_UNSET_KEY"}, "api_key_env names LATHE_UNSET_KEY, which is not set"},
	}
	for _, tt := range tests {
		cfg, _ := sdk.ConfigFrom(tt.opts)
		err := New().Configure(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Configure(%v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
	if _, err := New().Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"x"}}); err == nil {
		t.Error("Generate before Configure: want an error")
	}
}

// TestConcurrency: a batch runs at most `concurrency` requests at once.
func TestConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
		io.WriteString(w, okCompletion)
	}))
	defer ts.Close()
	m := configured(t, ts.URL, map[string]any{"endpoint": "completions", "concurrency": 3.0})
	resp, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: make([]string, 10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Completions) != 10 || peak.Load() != 3 {
		t.Errorf("%d completions, peak %d in flight; want 10 and 3", len(resp.Completions), peak.Load())
	}
}
