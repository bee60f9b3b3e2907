package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/sdk"
)

// client sends one context per request and turns the answer into an
// sdk.Completion.
type client struct {
	cfg     Config
	url     string
	key     string
	http    *http.Client
	timeout time.Duration
	// base is the first retry's backoff; tests shorten it.
	base time.Duration
	// sleep waits between attempts; tests may count the waits.
	sleep func(ctx context.Context, d time.Duration) error
	// log says when a request is retried, so a slow eval shows why.
	log hclog.Logger
}

func newClient(cfg Config, key string) *client {
	path := "/chat/completions"
	if cfg.Endpoint == EndpointCompletions {
		path = "/completions"
	}
	return &client{
		cfg: cfg, url: trimSlash(cfg.BaseURL) + path, key: key,
		http: newHTTPClient(cfg.Concurrency), timeout: time.Duration(cfg.TimeoutS * float64(time.Second)),
		base: 500 * time.Millisecond, sleep: sleepCtx, log: hclog.NewNullLogger(),
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The request bodies: only the fields Lathe sets.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type request struct {
	Model       string    `json:"model"`
	Prompt      *string   `json:"prompt,omitempty"`
	Messages    []message `json:"messages,omitempty"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature float64   `json:"temperature"`
	TopP        float64   `json:"top_p,omitempty"`
	Stop        []string  `json:"stop,omitempty"`
	Seed        int64     `json:"seed"`
	// Logprobs is a number for completions (how many alternatives besides
	// the sampled token: 0) and a bool for chat.
	Logprobs any `json:"logprobs,omitempty"`
}

// response is the union of a completions and a chat completions answer.
type response struct {
	Choices []struct {
		Text    string `json:"text"`
		Message *struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
		// StopReason is vLLM's (and lathe serve's) name of the stop string
		// that ended the text: a string, a token id or null.
		StopReason json.RawMessage `json:"stop_reason"`
		Logprobs   *struct {
			TokenLogprobs []*float64 `json:"token_logprobs"` // completions
			Content       []struct { // chat
				Logprob float64 `json:"logprob"`
			} `json:"content"`
		} `json:"logprobs"`
	} `json:"choices"`
	Usage *struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// apiError is the API's error body: {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Param   any    `json:"param"`
		Code    any    `json:"code"`
	} `json:"error"`
}

func (c *client) body(prompt string, msgs []sdk.Message, S sdk.Sampling, seed int64) ([]byte, error) {
	r := request{Model: c.cfg.Model, MaxTokens: S.MaxTokens, Temperature: S.Temperature, Stop: S.Stop, Seed: seed}
	if S.TopP > 0 && S.TopP < 1 {
		r.TopP = S.TopP
	}
	if c.cfg.Endpoint == EndpointCompletions {
		r.Prompt = &prompt
		if c.cfg.Logprobs {
			r.Logprobs = 0
		}
	} else {
		if len(msgs) == 0 {
			msgs = []sdk.Message{{Role: sdk.RoleUser, Content: prompt}}
		}
		for _, m := range msgs {
			r.Messages = append(r.Messages, message{Role: m.Role, Content: m.Content})
		}
		if c.cfg.Logprobs {
			r.Logprobs = true
		}
	}
	return json.Marshal(r)
}

// complete runs one request, retrying what may pass on a second try.
func (c *client) complete(ctx context.Context, prompt string, msgs []sdk.Message, S sdk.Sampling, seed int64) (sdk.Completion, error) {
	body, err := c.body(prompt, msgs, S, seed)
	if err != nil {
		return sdk.Completion{}, err
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.attempt(ctx, body)
		if err == nil {
			return c.completion(resp, S)
		}
		var ce *contextError
		if errors.As(err, &ce) {
			return sdk.Completion{StopReason: "context"}, nil
		}
		var re *retryable
		if ctx.Err() != nil || !errors.As(err, &re) {
			return sdk.Completion{}, err
		}
		if attempt >= c.cfg.Retries {
			return sdk.Completion{}, fmt.Errorf("%w (gave up after %d attempts)", re.err, attempt+1)
		}
		wait := backoff(c.base, attempt+1)
		if re.after > 0 {
			if re.after > maxRetryAfter {
				return sdk.Completion{}, fmt.Errorf("%w: the server asks to retry after %s, longer than Lathe waits (%s)", re.err, re.after, maxRetryAfter)
			}
			wait = re.after
		}
		c.log.Warn("retrying", "url", c.url, "attempt", attempt+2, "of", c.cfg.Retries+1, "after", wait, "error", re.err)
		if err := c.sleep(ctx, wait); err != nil {
			return sdk.Completion{}, err
		}
	}
}

// retryable marks a failure worth another attempt; after is the delay the
// server asked for (0: none).
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// contextError is the server's refusal of a prompt longer than its window.
type contextError struct{ err error }

func (e *contextError) Error() string { return e.err.Error() }

// maxBody bounds what is read of an answer.
const maxBody = 64 << 20

func (c *client) attempt(ctx context.Context, body []byte) (*response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, actx, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, c.transportError(ctx, actx, fmt.Errorf("read the answer: %w", err))
	}
	if res.StatusCode != http.StatusOK {
		return nil, c.statusError(res, b)
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("POST %s: the answer is not the API's JSON (%v): %s", c.url, err, snippet(b))
	}
	return &r, nil
}

// transportError says why no answer came: the caller gave up (not
// retried), the attempt timed out, or the connection failed (both
// retried).
func (c *client) transportError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &retryable{err: fmt.Errorf("POST %s: no answer within timeout_s = %g", c.url, c.cfg.TimeoutS)}
	}
	return &retryable{err: fmt.Errorf("POST %s: %w", c.url, connError(err))}
}

// connError names what a failed connection looks like from here.
func connError(err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("cannot connect (is the server running?): %w", err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the server closed the connection without a complete answer: %w", err)
	}
	return err
}

func (c *client) statusError(res *http.Response, b []byte) error {
	var ae apiError
	msg := snippet(b)
	if json.Unmarshal(b, &ae) == nil && ae.Error.Message != "" {
		msg = ae.Error.Message
		var extra []string
		for _, kv := range [][2]any{{"type", ae.Error.Type}, {"param", ae.Error.Param}, {"code", ae.Error.Code}} {
			if s := fmt.Sprint(kv[1]); kv[1] != nil && s != "" {
				extra = append(extra, fmt.Sprintf("%s %s", kv[0], s))
			}
		}
		if len(extra) > 0 {
			msg += " (" + strings.Join(extra, ", ") + ")"
		}
	}
	err := fmt.Errorf("POST %s: %s: %s", c.url, res.Status, msg)
	switch code := res.StatusCode; {
	case code == http.StatusBadRequest && isContextLength(ae, b) && !blamesMaxTokens(ae):
		return &contextError{err: err}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if c.cfg.APIKeyEnv == "" {
			return fmt.Errorf("%w; the request carried no API key: name its environment variable in api_key_env", err)
		}
		return fmt.Errorf("%w; check the key in $%s", err, c.cfg.APIKeyEnv)
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &retryable{err: err, after: retryAfter(res.Header.Get("Retry-After"))}
	}
	return err
}

// isContextLength recognises the servers' ways of saying that the prompt
// and max_tokens do not fit the window.
func isContextLength(ae apiError, b []byte) bool {
	if fmt.Sprint(ae.Error.Code) == "context_length_exceeded" || ae.Error.Type == "exceed_context_size_error" {
		return true
	}
	m := strings.ToLower(ae.Error.Message)
	if m == "" {
		m = strings.ToLower(string(b))
	}
	for _, s := range []string{"maximum context length", "context length", "context window", "context size"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// blamesMaxTokens reports a refusal that names max_tokens as the cause: a
// limit no prompt fits, which is the experiment's mistake, not an overflow.
func blamesMaxTokens(ae apiError) bool {
	p := fmt.Sprint(ae.Error.Param)
	return p == "max_tokens" || p == "max_completion_tokens"
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// completion reads the first choice; see the package doc for the mapping.
func (c *client) completion(r *response, S sdk.Sampling) (sdk.Completion, error) {
	if len(r.Choices) == 0 {
		return sdk.Completion{}, fmt.Errorf("POST %s: the answer has no choices", c.url)
	}
	ch := r.Choices[0]
	var out sdk.Completion
	if c.cfg.Endpoint == EndpointCompletions {
		out.Text = ch.Text
	} else if ch.Message != nil && ch.Message.Content != nil {
		out.Text = *ch.Message.Content
	}
	if lp := ch.Logprobs; lp != nil {
		for _, x := range lp.TokenLogprobs {
			if x != nil {
				out.Logprobs = append(out.Logprobs, *x)
			}
		}
		for _, x := range lp.Content {
			out.Logprobs = append(out.Logprobs, x.Logprob)
		}
	}
	tokens := len(out.Logprobs)
	if tokens == 0 && r.Usage != nil {
		tokens = r.Usage.CompletionTokens
	}
	switch ch.FinishReason {
	case "length":
		out.StopReason = "length"
		if tokens > 0 && (S.MaxTokens == 0 || tokens < S.MaxTokens) {
			out.StopReason = "context"
		}
	case "stop":
		out.StopReason = "stop"
		out.Text = withStop(out.Text, S.Stop, ch.StopReason)
	default:
		// The server ended the answer for a reason of its own
		// (content_filter, tool_calls): the text is what there is.
		out.StopReason = "stop"
	}
	return out, nil
}

// withStop puts back the stop string the API leaves out: the one the
// server names, else the first.
func withStop(text string, stop []string, named json.RawMessage) string {
	if len(stop) == 0 {
		return text
	}
	for _, s := range stop {
		if s != "" && strings.HasSuffix(text, s) {
			return text // a server that keeps it
		}
	}
	var s string
	if json.Unmarshal(named, &s) == nil {
		for _, x := range stop {
			if x == s {
				return text + s
			}
		}
	}
	return text + stop[0]
}
