package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// echoModel answers every context with "saw N bytes" and, when the
// request has stop strings, the first of them, so a test can tell which
// text reached the model. gate, when set, holds each Generate call until a
// value arrives; calls records every request.
type echoModel struct {
	mu     sync.Mutex
	calls  []sdk.GenerateRequest
	ctxErr []error // the call's context error when it returned
	gate   chan struct{}
	// hang makes Generate wait for its context to be cancelled.
	hang   bool
	window int
}

func (m *echoModel) Schema(context.Context) (sdk.Schema, error)  { return sdk.Schema{}, nil }
func (m *echoModel) Configure(context.Context, sdk.Config) error { return nil }
func (m *echoModel) Info(context.Context) (sdk.ModelInfo, error) {
	return sdk.ModelInfo{Name: "echo", Context: m.window}, nil
}

func (m *echoModel) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	m.mu.Lock()
	m.calls = append(m.calls, req)
	m.mu.Unlock()
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
		}
	}
	if m.hang {
		<-ctx.Done()
	}
	m.mu.Lock()
	m.ctxErr = append(m.ctxErr, ctx.Err())
	m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return sdk.GenerateResponse{}, err
	}
	var out sdk.GenerateResponse
	for i, c := range req.Contexts {
		comp := sdk.Completion{Text: fmt.Sprintf("saw %d bytes", len(c)), Tokens: []int32{7, 8, int32(i)},
			Logprobs: []float64{-0.5, -0.25, -1}, StopReason: "length"}
		if len(req.Sampling.Stop) > 0 {
			comp.Text += req.Sampling.Stop[0]
			comp.StopReason = "stop"
		}
		out.Completions = append(out.Completions, comp)
	}
	return out, nil
}

func (m *echoModel) requests() []sdk.GenerateRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdk.GenerateRequest(nil), m.calls...)
}

func newTestServer(t *testing.T, m *echoModel, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	if opts.ModelName == "" {
		opts.ModelName = "lathe-test"
	}
	s, err := New(context.Background(), m, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return s, ts
}

func client(ts *httptest.Server, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

// TestOfficialClient drives every route with the official OpenAI Go client.
func TestOfficialClient(t *testing.T) {
	m := &echoModel{window: 512}
	_, ts := newTestServer(t, m, Options{APIKey: "sesame"})
	c := client(ts, "sesame")
	ctx := context.Background()

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "lathe-test" || page.Data[0].OwnedBy != "lathe" {
			t.Errorf("models = %+v", page.Data)
		}
		one, err := c.Models.Get(ctx, "lathe-test")
		if err != nil || one.ID != "lathe-test" {
			t.Errorf("Get = %+v, %v", one, err)
		}
	})

	t.Run("completions", func(t *testing.T) {
		res, err := c.Completions.New(ctx, openai.CompletionNewParams{
			Model:       "lathe-test",
			Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("L 1 x\n$ ")},
			MaxTokens:   openai.Int(32),
			Temperature: openai.Float(0),
			Stop:        openai.CompletionNewParamsStopUnion{OfString: openai.String("\n")},
			N:           openai.Int(2),
			Seed:        openai.Int(3),
			Logprobs:    openai.Int(0),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 2 {
			t.Fatalf("%d choices, want 2", len(res.Choices))
		}
		for i, ch := range res.Choices {
			// The stop string is dropped, as the API does.
			if ch.Text != fmt.Sprintf("saw %d bytes", len("L 1 x\n$ ")) || ch.FinishReason != "stop" || int(ch.Index) != i {
				t.Errorf("choice %d = %q %q index %d", i, ch.Text, ch.FinishReason, ch.Index)
			}
			if want := []float64{-0.5, -0.25, -1}; !reflect.DeepEqual(ch.Logprobs.TokenLogprobs, want) {
				t.Errorf("token_logprobs = %v, want %v", ch.Logprobs.TokenLogprobs, want)
			}
			if want := fmt.Sprintf("token_id:%d", i); ch.Logprobs.Tokens[2] != want {
				t.Errorf("tokens = %v, want the third %q", ch.Logprobs.Tokens, want)
			}
		}
		if res.Usage.CompletionTokens != 6 || res.Object != "text_completion" || res.Model != "lathe-test" {
			t.Errorf("usage %+v object %q model %q", res.Usage, res.Object, res.Model)
		}
		last := m.requests()[len(m.requests())-1]
		want := sdk.Sampling{Temperature: 0, MaxTokens: 32, Stop: []string{"\n"}, Seed: 3}
		if !reflect.DeepEqual(last.Sampling, want) || !reflect.DeepEqual(last.Contexts, []string{"L 1 x\n$ ", "L 1 x\n$ "}) {
			t.Errorf("model got %+v", last)
		}
	})

	t.Run("chat", func(t *testing.T) {
		msgs := []sdk.Message{{Role: sdk.RoleUser, Content: "Fix it.\nL 1 x\n"}, {Role: sdk.RoleAssistant, Content: "DELL 1"}, {Role: sdk.RoleUser, Content: "L 1 y\n"}}
		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "lathe-test",
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.UserMessage(msgs[0].Content), openai.AssistantMessage(msgs[1].Content), openai.UserMessage(msgs[2].Content),
			},
			MaxCompletionTokens: openai.Int(16),
			Temperature:         openai.Float(0),
			Stop:                openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("\n")},
			Logprobs:            openai.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		// The model reads the messages in the episode layout.
		text := episode.Render(msgs, []string{"\n"})
		if text != "Fix it.\nL 1 x\n$ DELL 1\nL 1 y\n$ " {
			t.Fatalf("layout changed: %q", text)
		}
		last := m.requests()[len(m.requests())-1]
		if !reflect.DeepEqual(last.Contexts, []string{text}) || last.Sampling.MaxTokens != 16 {
			t.Errorf("model got %+v", last)
		}
		ch := res.Choices[0]
		if want := fmt.Sprintf("saw %d bytes", len(text)); ch.Message.Content != want || ch.Message.Role != "assistant" || ch.FinishReason != "stop" {
			t.Errorf("choice = %+v", ch)
		}
		if len(ch.Logprobs.Content) != 3 || ch.Logprobs.Content[1].Logprob != -0.25 || ch.Logprobs.Content[1].Token != "token_id:8" {
			t.Errorf("logprobs = %+v", ch.Logprobs.Content)
		}
	})

	t.Run("completions stream", func(t *testing.T) {
		st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model: "lathe-test", Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfStrings: []string{"ab", "abcd"}},
			Temperature: openai.Float(0), MaxTokens: openai.Int(8),
		})
		texts := map[int64]string{}
		finish := map[int64]string{}
		for st.Next() {
			for _, ch := range st.Current().Choices {
				texts[ch.Index] += ch.Text
				if ch.FinishReason != "" {
					finish[ch.Index] = string(ch.FinishReason)
				}
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{0: "saw 2 bytes", 1: "saw 4 bytes"}
		if !reflect.DeepEqual(texts, want) || finish[0] != "length" || finish[1] != "length" {
			t.Errorf("streamed %v finish %v, want %v and length", texts, finish, want)
		}
	})

	t.Run("chat stream", func(t *testing.T) {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "lathe-test",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hi")},
			Temperature:   openai.Float(0),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		acc := openai.ChatCompletionAccumulator{}
		for st.Next() {
			acc.AddChunk(st.Current())
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		text := "Be brief.\nhi\n$ "
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != fmt.Sprintf("saw %d bytes", len(text)) || acc.Usage.CompletionTokens != 3 {
			t.Errorf("accumulated %+v usage %+v", acc.Choices, acc.Usage)
		}
	})

	t.Run("errors", func(t *testing.T) {
		prompt := openai.CompletionNewParamsPromptUnion{OfString: openai.String("x")}
		tests := []struct {
			name   string
			params openai.CompletionNewParams
			key    string
			status int
			param  string
			code   string
			msg    string
		}{
			{"unknown model", openai.CompletionNewParams{Model: "gpt-9", Prompt: prompt}, "sesame", 404, "model", "model_not_found", `"gpt-9" does not exist`},
			{"max_tokens too large", openai.CompletionNewParams{Model: "lathe-test", Prompt: prompt, MaxTokens: openai.Int(512)}, "sesame", 400, "max_tokens", "context_length_exceeded", "window of 512 tokens"},
			{"max_tokens zero", openai.CompletionNewParams{Model: "lathe-test", Prompt: prompt, MaxTokens: openai.Int(0)}, "sesame", 400, "max_tokens", "", "at least 1"},
			{"temperature", openai.CompletionNewParams{Model: "lathe-test", Prompt: prompt, Temperature: openai.Float(3)}, "sesame", 400, "temperature", "", "between 0 and 2"},
			{"top logprobs", openai.CompletionNewParams{Model: "lathe-test", Prompt: prompt, Logprobs: openai.Int(3)}, "sesame", 400, "logprobs", "", "alternatives"},
			{"token prompt", openai.CompletionNewParams{Model: "lathe-test", Prompt: openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2}}}, "sesame", 400, "prompt", "", "token ids"},
			{"wrong key", openai.CompletionNewParams{Model: "lathe-test", Prompt: prompt}, "open", 401, "", "invalid_api_key", "API key"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cl := client(ts, tt.key)
				_, err := cl.Completions.New(ctx, tt.params)
				var ae *openai.Error
				if !errors.As(err, &ae) {
					t.Fatalf("err = %v, want an *openai.Error", err)
				}
				if ae.StatusCode != tt.status || ae.Param != tt.param || ae.Code != tt.code || !strings.Contains(ae.Message, tt.msg) {
					t.Errorf("got %d param %q code %q %q; want %d %q %q containing %q", ae.StatusCode, ae.Param, ae.Code, ae.Message, tt.status, tt.param, tt.code, tt.msg)
				}
			})
		}
	})
}

// TestBadRequests sends what the client libraries would not: broken JSON,
// wrong shapes, wrong routes. Each gets the API's error shape.
func TestBadRequests(t *testing.T) {
	_, ts := newTestServer(t, &echoModel{window: 64}, Options{MaxBodyBytes: 1 << 10})
	tests := []struct {
		name, method, path, body string
		status                   int
		param, msg               string
	}{
		{"malformed JSON", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "x"`, 400, "", "not valid JSON"},
		{"wrong type", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "x", "n": "two"}`, 400, "n", `field "n"`},
		{"missing model", "POST", "/v1/completions", `{"prompt": "x"}`, 400, "model", "model is required"},
		{"missing prompt", "POST", "/v1/completions", `{"model": "lathe-test"}`, 400, "prompt", "prompt is required"},
		{"n too large", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "x", "n": 17}`, 400, "n", "between 1 and 16"},
		{"echo", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "x", "echo": true}`, 400, "echo", "not supported"},
		{"bad stop", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "x", "stop": 3}`, 400, "stop", "string or a list"},
		{"empty messages", "POST", "/v1/chat/completions", `{"model": "lathe-test", "messages": []}`, 400, "messages", "must not be empty"},
		{"tool role", "POST", "/v1/chat/completions", `{"model": "lathe-test", "messages": [{"role": "tool", "content": "x"}]}`, 400, "messages[0].role", `"tool"`},
		{"image part", "POST", "/v1/chat/completions", `{"model": "lathe-test", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}`, 400, "messages[0].content[0]", "image_url"},
		{"chat max tokens", "POST", "/v1/chat/completions", `{"model": "lathe-test", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 100}`, 400, "max_completion_tokens", "window of 64"},
		{"body too large", "POST", "/v1/completions", `{"model": "lathe-test", "prompt": "` + strings.Repeat("x", 2000) + `"}`, 413, "", "larger than 1024 bytes"},
		{"unknown route", "POST", "/v1/embeddings", `{}`, 404, "", "no route"},
		{"wrong method", "GET", "/v1/completions", ``, 405, "", "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			param := ""
			if body.Error.Param != nil {
				param = *body.Error.Param
			}
			if res.StatusCode != tt.status || param != tt.param || body.Error.Type == "" || !strings.Contains(body.Error.Message, tt.msg) {
				t.Errorf("got %d param %q type %q %q; want %d param %q containing %q",
					res.StatusCode, param, body.Error.Type, body.Error.Message, tt.status, tt.param, tt.msg)
			}
		})
	}
}

func post(ctx context.Context, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// waitQueued waits until the batcher holds n contexts.
func waitQueued(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.queue.queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d contexts, want %d", s.queue.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBatching: requests that queue while the model is busy share the
// next Generate call when they sample alike, and only then.
func TestBatching(t *testing.T) {
	m := &echoModel{gate: make(chan struct{})}
	s, ts := newTestServer(t, m, Options{})
	greedy := func(prompt string, maxTokens int) string {
		return fmt.Sprintf(`{"model": "lathe-test", "prompt": %q, "temperature": 0, "max_tokens": %d, "seed": %d}`, prompt, maxTokens, len(prompt))
	}
	var bodies []string
	for i := range 6 {
		bodies = append(bodies, greedy(strings.Repeat("p", i+1), 8)) // seeds differ; greedy ignores them
	}
	bodies = append(bodies,
		greedy("other limit", 4),
		`{"model": "lathe-test", "prompt": "seeded sample", "temperature": 0.7, "seed": 1, "max_tokens": 8}`,
		`{"model": "lathe-test", "prompt": "seeded sample", "temperature": 0.7, "seed": 1, "max_tokens": 8}`)

	ctx := context.Background()
	// The first request occupies the model; the others queue meanwhile.
	first := make(chan error, 1)
	go func() {
		res, err := post(ctx, ts.URL+"/v1/completions", greedy("first", 8))
		if err == nil {
			res.Body.Close()
		}
		first <- err
	}()
	for len(m.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	texts := make([]string, len(bodies))
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := post(ctx, ts.URL+"/v1/completions", b)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			var a struct{ Choices []struct{ Text string } }
			if err := json.NewDecoder(res.Body).Decode(&a); err != nil || len(a.Choices) != 1 {
				t.Errorf("request %d: %v %+v", i, err, a)
				return
			}
			texts[i] = a.Choices[0].Text
		}()
	}
	waitQueued(t, s, len(bodies))
	close(m.gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// Every answer is its own prompt's, whatever it was batched with.
	for i, b := range bodies {
		var req struct{ Prompt string }
		_ = json.Unmarshal([]byte(b), &req)
		if want := fmt.Sprintf("saw %d bytes", len(req.Prompt)); texts[i] != want {
			t.Errorf("request %d answered %q, want %q", i, texts[i], want)
		}
	}
	// first; the six greedy max_tokens=8 ones together; the other limit;
	// each seeded sample alone, with its own seed. Queue order is arrival
	// order, so the calls are told apart by what they hold.
	var sizes []string
	for _, r := range m.requests()[1:] {
		sizes = append(sizes, fmt.Sprintf("%d@%g/%d/seed%d", len(r.Contexts), r.Sampling.Temperature, r.Sampling.MaxTokens, r.Sampling.Seed))
	}
	sort.Strings(sizes)
	// Greedy calls carry the seed of their first request, which greedy
	// decoding ignores: mask it.
	for i, s := range sizes {
		if strings.Contains(s, "@0/") {
			sizes[i] = s[:strings.Index(s, "/seed")]
		}
	}
	if want := []string{"1@0.7/8/seed1", "1@0.7/8/seed1", "1@0/4", "6@0/8"}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("Generate calls after the first: %v, want %v", sizes, want)
	}
}

// TestClientGoesAway: a request whose client leaves while it is queued
// never reaches the model, and a Generate call whose every client left is
// cancelled.
func TestClientGoesAway(t *testing.T) {
	t.Run("while queued", func(t *testing.T) {
		m := &echoModel{gate: make(chan struct{})}
		s, ts := newTestServer(t, m, Options{})
		body := `{"model": "lathe-test", "prompt": "x", "temperature": 0}`
		done := make(chan struct{})
		go func() {
			defer close(done)
			if res, err := post(context.Background(), ts.URL+"/v1/completions", body); err == nil {
				res.Body.Close()
			}
		}()
		for len(m.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan error, 1)
		go func() {
			_, err := post(ctx, ts.URL+"/v1/completions", `{"model": "lathe-test", "prompt": "gone", "temperature": 0}`)
			gone <- err
		}()
		waitQueued(t, s, 1)
		cancel()
		if err := <-gone; !errors.Is(err, context.Canceled) {
			t.Errorf("client error = %v, want context.Canceled", err)
		}
		// The server notices the closed connection asynchronously.
		deadline := time.Now().Add(10 * time.Second)
		for {
			s.queue.mu.Lock()
			j := s.queue.pending
			s.queue.mu.Unlock()
			if len(j) == 1 && j[0].ctx.Err() != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server did not notice the client leaving")
			}
			time.Sleep(time.Millisecond)
		}
		close(m.gate)
		<-done
		time.Sleep(20 * time.Millisecond) // room for a wrong second call
		if n := len(m.requests()); n != 1 {
			t.Errorf("%d Generate calls, want 1: the abandoned request ran", n)
		}
	})
	t.Run("while generating", func(t *testing.T) {
		m := &echoModel{hang: true}
		_, ts := newTestServer(t, m, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		gone := make(chan error, 1)
		go func() {
			_, err := post(ctx, ts.URL+"/v1/completions", `{"model": "lathe-test", "prompt": "x", "temperature": 0}`)
			gone <- err
		}()
		for len(m.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-gone
		deadline := time.Now().Add(10 * time.Second)
		for {
			m.mu.Lock()
			errs := append([]error(nil), m.ctxErr...)
			m.mu.Unlock()
			if len(errs) == 1 {
				if !errors.Is(errs[0], context.Canceled) {
					t.Errorf("Generate ended with %v, want context.Canceled", errs[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Generate was not cancelled when its only client left")
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// TestModelFailure: a failing Generate call is a server_error naming the
// cause, and the server keeps answering.
func TestModelFailure(t *testing.T) {
	m := &failModel{}
	s, err := New(context.Background(), m, Options{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close() }()
	for range 2 {
		res, err := post(context.Background(), ts.URL+"/v1/completions", `{"model": "m", "prompt": "x"}`)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 500 || !strings.Contains(string(b), `"server_error"`) || !strings.Contains(string(b), "plugin crashed") {
			t.Errorf("got %d %s", res.StatusCode, b)
		}
	}
}

type failModel struct{ echoModel }

func (*failModel) Generate(context.Context, sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	return sdk.GenerateResponse{}, errors.New("plugin crashed")
}

func TestCloseFailsQueuedRequests(t *testing.T) {
	m := &echoModel{gate: make(chan struct{})}
	s, err := New(context.Background(), m, Options{ModelName: "m"})
	if err != nil {
		t.Fatal(err)
	}
	first := &job{ctx: context.Background(), contexts: []string{"a"}, key: "k", done: make(chan result, 1)}
	queued := &job{ctx: context.Background(), contexts: []string{"b"}, key: "other", done: make(chan result, 1)}
	if err := s.queue.submit(first); err != nil {
		t.Fatal(err)
	}
	for len(m.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.queue.submit(queued); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(m.gate)
	}()
	s.Close()
	if r := <-first.done; r.err != nil || len(r.completions) != 1 {
		t.Errorf("running job: %+v, want its completion", r)
	}
	if r := <-queued.done; r.err == nil || !strings.Contains(r.err.Error(), "shut down") {
		t.Errorf("queued job: %+v, want a shutdown error", r)
	}
	if err := s.queue.submit(&job{ctx: context.Background(), done: make(chan result, 1)}); err == nil {
		t.Error("submit after Close: want an error")
	}
}

// TestNoHTMLEscapes: answers keep "<" and ">" as they are (commands are
// full of them), not as \u003c and \u003e.
func TestNoHTMLEscapes(t *testing.T) {
	_, ts := newTestServer(t, &echoModel{}, Options{})
	res, err := post(context.Background(), ts.URL+"/v1/completions", `{"model": "a>b", "prompt": "x"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(b), `the model \"a>b\" does not exist`) {
		t.Errorf("body %s, want the model name unescaped", b)
	}
}
