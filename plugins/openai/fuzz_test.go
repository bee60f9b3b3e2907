package openai

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lathe-ml/lathe/sdk"
)

// FuzzServerAnswer: whatever a server on loopback answers (any status,
// Retry-After and body, on either endpoint), Generate returns a completion
// that ends for a known reason or an error that names the server's URL,
// never a panic.
func FuzzServerAnswer(f *testing.F) {
	f.Add(200, "", okCompletion, false)
	f.Add(200, "", `{"choices": [{"message": {"content": "EXIT"}, "finish_reason": "stop", "stop_reason": "\n"}]}`, true)
	f.Add(200, "", `{"choices": [{"message": null, "finish_reason": "length", "logprobs": {"content": [{"logprob": -1}]}}], "usage": {"completion_tokens": 3}}`, true)
	f.Add(200, "", `{"choices": [{"text": "x", "finish_reason": "length", "logprobs": {"token_logprobs": [null, -1]}}]}`, false)
	f.Add(200, "", `{"choices": []}`, false)
	f.Add(200, "", `{"choices": [{"stop_reason": 13}]}`, false)
	f.Add(200, "", `not json`, false)
	f.Add(400, "", `{"error": {"message": "This model's maximum context length is 2048 tokens", "param": "messages", "code": "context_length_exceeded"}}`, true)
	f.Add(400, "", `{"error": {"message": "max_tokens too large", "param": "max_tokens", "code": null}}`, false)
	f.Add(401, "", `{"error": {"message": "bad key", "type": 7}}`, false)
	f.Add(429, "1", `{"error": {}}`, true)
	f.Add(503, "Wed, 21 Oct 2015 07:28:00 GMT", ``, false)
	f.Add(500, "-3", "\xff\xfe", false)
	f.Fuzz(func(t *testing.T, status int, retryAfter, body string, chat bool) {
		if status < 200 || status > 599 {
			status = 200 + (status%400+400)%400
		}
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.TrimSpace(retryAfter) != "" && !strings.ContainsAny(retryAfter, "\r\n") {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}))
		defer ts.Close()
		endpoint := "completions"
		if chat {
			endpoint = "chat"
		}
		m := configured(t, ts.URL, map[string]any{"endpoint": endpoint, "retries": 0.0})
		resp, err := m.Generate(context.Background(), sdk.GenerateRequest{Contexts: []string{"Fix.\n$ "},
			Sampling: sdk.Sampling{MaxTokens: 8, Stop: []string{"\n"}}})
		if err != nil {
			if !strings.Contains(err.Error(), ts.URL) {
				t.Fatalf("status %d: error does not name the server: %v", status, err)
			}
			return
		}
		if len(resp.Completions) != 1 {
			t.Fatalf("%d completions for one context", len(resp.Completions))
		}
		switch r := resp.Completions[0].StopReason; r {
		case "stop", "length", "context":
		default:
			t.Fatalf("status %d: stop reason %q", status, r)
		}
	})
}
