package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lathe-ml/lathe/sdk"
)

// apiError is a request the server refuses, in the API's terms.
type apiError struct {
	status                   int
	typ, param, code, detail string
}

func (e *apiError) Error() string { return e.detail }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, detail: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(v))
}

// marshal encodes v without HTML escapes: code and commands are full of
// "<" and ">", which "\u003e" would make unreadable in a raw answer.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return b.Bytes()
}

func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	body := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if param != "" {
		body["param"] = param
	}
	if code != "" {
		body["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeAPIError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.typ, ae.param, ae.code, ae.detail)
		return
	}
	writeError(w, http.StatusInternalServerError, "server_error", "", "", err.Error())
}

// decode reads a JSON body into v; the error says where it went wrong.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
				detail: fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit)}
		}
		return badRequest("", "cannot read the request body: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("", "the request body is not valid JSON: %v (at byte %d)", se, se.Offset)
		case errors.As(err, &te):
			field := strings.TrimPrefix(te.Field, "sampling.") // the shared fields' embedding
			return badRequest(field, "field %q: want %s, got JSON %s", field, te.Type, te.Value)
		}
		return badRequest("", "the request body is not a valid request: %v", err)
	}
	return nil
}

// sampling holds the fields both endpoints share.
type sampling struct {
	Model       string          `json:"model"`
	Temperature *float64        `json:"temperature"`
	TopP        *float64        `json:"top_p"`
	Stop        json.RawMessage `json:"stop"`
	N           *int            `json:"n"`
	Seed        *int64          `json:"seed"`
	Stream      bool            `json:"stream"`
	// StreamOptions.IncludeUsage adds a last chunk with the usage.
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type completionRequest struct {
	sampling
	Prompt    json.RawMessage `json:"prompt"`
	MaxTokens *int            `json:"max_tokens"`
	Logprobs  *int            `json:"logprobs"`
	Echo      bool            `json:"echo"`
	Suffix    *string         `json:"suffix"`
	BestOf    *int            `json:"best_of"`
}

type chatRequest struct {
	sampling
	Messages            []chatMessage `json:"messages"`
	MaxTokens           *int          `json:"max_tokens"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Logprobs            bool          `json:"logprobs"`
	TopLogprobs         *int          `json:"top_logprobs"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// params is a validated request: the model's sampling and n choices.
type params struct {
	sdk.Sampling
	n      int
	seeded bool
}

// check validates the shared fields; maxTokens is the endpoint's value
// (nil: absent, then def), and 0 in the result means "until the window is
// full".
func (s *Server) check(p sampling, maxTokens *int, maxParam string, def int) (params, error) {
	var out params
	if p.Model == "" {
		return out, badRequest("model", "model is required: this server serves %q", s.opts.ModelName)
	}
	if p.Model != s.opts.ModelName {
		return out, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model", code: "model_not_found",
			detail: fmt.Sprintf("the model %q does not exist: this server serves %q", p.Model, s.opts.ModelName)}
	}
	out.Temperature = 1 // the API's default
	if t := p.Temperature; t != nil {
		if *t < 0 || *t > 2 {
			return out, badRequest("temperature", "temperature must be between 0 and 2, got %g", *t)
		}
		out.Temperature = *t
	}
	if t := p.TopP; t != nil {
		if *t <= 0 || *t > 1 {
			return out, badRequest("top_p", "top_p must be in (0, 1], got %g", *t)
		}
		out.TopP = *t
	}
	out.MaxTokens = def
	if maxTokens != nil {
		m := *maxTokens
		if m < 1 {
			return out, badRequest(maxParam, "%s must be at least 1, got %d", maxParam, m)
		}
		if s.window > 0 && m >= s.window {
			return out, &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: maxParam, code: "context_length_exceeded",
				detail: fmt.Sprintf("%s = %d does not fit the model's context window of %d tokens with any prompt", maxParam, m, s.window)}
		}
		out.MaxTokens = m
	}
	out.n = 1
	if p.N != nil {
		if *p.N < 1 || *p.N > s.opts.MaxN {
			return out, badRequest("n", "n must be between 1 and %d, got %d", s.opts.MaxN, *p.N)
		}
		out.n = *p.N
	}
	if p.Seed != nil {
		out.Seed, out.seeded = *p.Seed, true
	}
	stop, err := stopStrings(p.Stop)
	if err != nil {
		return out, err
	}
	out.Stop = stop
	return out, nil
}

// stopStrings reads "stop": null, a string or a list of strings.
func stopStrings(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil, nil
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badRequest("stop", "stop must be a string or a list of strings, got %s", raw)
	}
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) > 16 {
		return nil, badRequest("stop", "at most 16 stop strings, got %d", len(out))
	}
	return out, nil
}

// prompts reads "prompt": a string or a list of strings.
func prompts(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("prompt", "prompt is required")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if len(list) == 0 {
			return nil, badRequest("prompt", "prompt is an empty list")
		}
		return list, nil
	}
	var ids []json.RawMessage
	if json.Unmarshal(raw, &ids) == nil {
		return nil, badRequest("prompt", "prompt as token ids is not supported: the model's tokenizer is its own; send text")
	}
	return nil, badRequest("prompt", "prompt must be a string or a list of strings, got %s", snippet(raw))
}

// messages reads chat messages as sdk.Message: content is a string or a
// list of text parts.
func messages(in []chatMessage) ([]sdk.Message, error) {
	if len(in) == 0 {
		return nil, badRequest("messages", "messages is required and must not be empty")
	}
	out := make([]sdk.Message, len(in))
	for i, m := range in {
		param := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer", "user", sdk.RoleAssistant:
		default:
			return nil, badRequest(param+".role", "role %q is not supported: use system, developer, user or assistant", m.Role)
		}
		text, err := content(m.Content, param)
		if err != nil {
			return nil, err
		}
		out[i] = sdk.Message{Role: m.Role, Content: text}
	}
	return out, nil
}

func content(raw json.RawMessage, param string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param+".content", "content must be a string or a list of text parts, got %s", snippet(raw))
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", badRequest(fmt.Sprintf("%s.content[%d]", param, j), "content part of type %q is not supported: the model reads text", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func snippet(b []byte) string {
	s := string(b)
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
