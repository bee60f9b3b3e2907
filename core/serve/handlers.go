package serve

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lathe-ml/lathe/core/episode"
	"github.com/lathe-ml/lathe/sdk"
)

// Response bodies. Choice holds the fields of both endpoints; the
// omitempty tags keep each endpoint's own.
type choice struct {
	Index   int          `json:"index"`
	Text    *string      `json:"text,omitempty"`
	Message *chatContent `json:"message,omitempty"`
	Delta   *chatContent `json:"delta,omitempty"`
	// Logprobs is completionLogprobs or chatLogprobs; null when not asked.
	Logprobs     any     `json:"logprobs"`
	FinishReason *string `json:"finish_reason"`
	// StopReason is vLLM's name of the stop string that ended the text.
	StopReason *string `json:"stop_reason,omitempty"`
}

type chatContent struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type completionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

type chatLogprobs struct {
	Content []chatTokenLogprob `json:"content"`
}

type chatTokenLogprob struct {
	Token       string   `json:"token"`
	Logprob     float64  `json:"logprob"`
	Bytes       []int    `json:"bytes"`
	TopLogprobs []string `json:"top_logprobs"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type answer struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if err := decode(r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	p, err := s.check(req.sampling, req.MaxTokens, "max_tokens", 16) // the API's default
	if err == nil {
		err = refuseCompletionExtras(req)
	}
	var texts []string
	if err == nil {
		texts, err = prompts(req.Prompt)
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	comps, err := s.generate(r.Context(), texts, p)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if comps == nil {
		return // the client went away
	}
	a := answer{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: s.opts.ModelName}
	for i, c := range comps {
		text, finish, stop := strip(c, p.Stop)
		ch := choice{Index: i, Text: &text, FinishReason: &finish, StopReason: stop}
		if req.Logprobs != nil {
			ch.Logprobs = completionLogprobs{Tokens: tokenNames(c), TokenLogprobs: nonNil(c.Logprobs)}
		}
		a.Choices = append(a.Choices, ch)
	}
	a.Usage = usageOf(comps)
	if req.Stream {
		s.stream(w, a, req.StreamOptions != nil && req.StreamOptions.IncludeUsage, "text_completion")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func refuseCompletionExtras(req completionRequest) error {
	switch {
	case req.Echo:
		return badRequest("echo", "echo is not supported")
	case req.Suffix != nil && *req.Suffix != "":
		return badRequest("suffix", "suffix is not supported: the model only continues a prompt")
	case req.BestOf != nil && *req.BestOf > 1:
		return badRequest("best_of", "best_of is not supported: ask for n choices instead")
	case req.Logprobs != nil && (*req.Logprobs < 0 || *req.Logprobs > 5):
		return badRequest("logprobs", "logprobs must be between 0 and 5, got %d", *req.Logprobs)
	case req.Logprobs != nil && *req.Logprobs > 0:
		return badRequest("logprobs", "logprobs = %d asks for alternatives, which the model does not report: use logprobs = 0 for the sampled tokens' log-probs", *req.Logprobs)
	}
	return nil
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := decode(r, &req); err != nil {
		writeAPIError(w, err)
		return
	}
	maxTokens, param := req.MaxCompletionTokens, "max_completion_tokens"
	if maxTokens == nil {
		maxTokens, param = req.MaxTokens, "max_tokens"
	}
	p, err := s.check(req.sampling, maxTokens, param, 0) // the API's default: as long as the window allows
	if err == nil && req.TopLogprobs != nil && *req.TopLogprobs != 0 {
		err = badRequest("top_logprobs", "top_logprobs = %d asks for alternatives, which the model does not report: leave it out (logprobs = true gives the sampled tokens' log-probs)", *req.TopLogprobs)
	}
	var msgs []sdk.Message
	if err == nil {
		msgs, err = messages(req.Messages)
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	comps, err := s.generate(r.Context(), []string{episode.Render(msgs, p.Stop)}, p)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if comps == nil {
		return
	}
	a := answer{ID: newID("chatcmpl-"), Object: "chat.completion", Created: time.Now().Unix(), Model: s.opts.ModelName}
	for i, c := range comps {
		text, finish, stop := strip(c, p.Stop)
		ch := choice{Index: i, Message: &chatContent{Role: sdk.RoleAssistant, Content: &text}, FinishReason: &finish, StopReason: stop}
		if req.Logprobs {
			lp := chatLogprobs{Content: []chatTokenLogprob{}}
			names := tokenNames(c)
			for k, x := range c.Logprobs {
				lp.Content = append(lp.Content, chatTokenLogprob{Token: names[k], Logprob: x, TopLogprobs: []string{}})
			}
			ch.Logprobs = lp
		}
		a.Choices = append(a.Choices, ch)
	}
	a.Usage = usageOf(comps)
	if req.Stream {
		s.stream(w, a, req.StreamOptions != nil && req.StreamOptions.IncludeUsage, "chat.completion.chunk")
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// generate queues the prompts, each n times, and waits for their
// completions; nil and no error means the client went away first.
func (s *Server) generate(ctx context.Context, prompts []string, p params) ([]sdk.Completion, error) {
	j := &job{ctx: ctx, sampling: p.Sampling, key: batchKey(p), done: make(chan result, 1)}
	for _, t := range prompts {
		for range p.n {
			j.contexts = append(j.contexts, t)
		}
	}
	if err := s.queue.submit(j); err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, typ: "server_error", detail: err.Error()}
	}
	select {
	case res := <-j.done:
		if ctx.Err() != nil {
			return nil, nil
		}
		return res.completions, res.err
	case <-ctx.Done():
		return nil, nil
	}
}

// strip drops the stop string that ended a completion, as the API does,
// and maps the model's stop reason to the API's finish_reason.
func strip(c sdk.Completion, stop []string) (text, finish string, stopped *string) {
	text = c.Text
	switch c.StopReason {
	case "stop":
		finish = "stop"
		for _, s := range stop {
			if strings.HasSuffix(text, s) {
				text = strings.TrimSuffix(text, s)
				stopped = &s
				break
			}
		}
	default: // "length", and "context" (the window is full), which the API has no name for
		finish = "length"
	}
	return text, finish, stopped
}

func tokenNames(c sdk.Completion) []string {
	out := make([]string, len(c.Logprobs))
	for i := range out {
		if i < len(c.Tokens) {
			out[i] = fmt.Sprintf("token_id:%d", c.Tokens[i])
		}
	}
	return out
}

func nonNil(x []float64) []float64 {
	if x == nil {
		return []float64{}
	}
	return x
}

func usageOf(comps []sdk.Completion) *usage {
	u := &usage{}
	for _, c := range comps {
		u.CompletionTokens += max(len(c.Tokens), len(c.Logprobs))
	}
	u.TotalTokens = u.CompletionTokens
	return u
}

// stream sends a finished answer as server-sent events: per choice a chunk
// with its text and one with its finish reason, then the usage when asked,
// then [DONE].
func (s *Server) stream(w http.ResponseWriter, a answer, withUsage bool, object string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		fmt.Fprintf(w, "data: %s\n\n", bytes.TrimSpace(marshal(v)))
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(ch choice) answer {
		return answer{ID: a.ID, Object: object, Created: a.Created, Model: a.Model, Choices: []choice{ch}}
	}
	for _, ch := range a.Choices {
		finish := ch.FinishReason
		body := ch
		body.FinishReason, body.StopReason = nil, nil
		if ch.Message != nil {
			body.Message, body.Delta = nil, &chatContent{Role: sdk.RoleAssistant, Content: ch.Message.Content}
		}
		send(chunk(body))
		end := choice{Index: ch.Index, FinishReason: finish, StopReason: ch.StopReason}
		if ch.Message != nil {
			end.Delta = &chatContent{}
		} else {
			empty := ""
			end.Text = &empty
		}
		send(chunk(end))
	}
	if withUsage {
		send(answer{ID: a.ID, Object: object, Created: a.Created, Model: a.Model, Choices: []choice{}, Usage: a.Usage})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}
