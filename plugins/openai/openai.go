// Package openai is the built-in model plugin for any server that speaks
// the OpenAI HTTP API (vLLM, SGLang, llama.cpp's server, Ollama, `lathe
// serve`, the OpenAI service itself): Generate sends each context of a
// batch as its own request, at most `concurrency` at a time, and returns
// what the server wrote. It is inference-only: it implements neither
// sdk.ModelWithTraining nor sdk.ModelWithCheckpoints, so `lathe validate`
// rejects a training stage or an eval of checkpoints that names it; an eval
// block without checkpoints evaluates it as served.
//
// # Requests
//
// endpoint = "completions" posts {base_url}/completions with the context as
// the prompt, so the server's model continues Lathe's own text layout
// (core/episode). endpoint = "chat" posts {base_url}/chat/completions with
// the context as chat turns (sdk.Message, built by core/episode.Messages):
//
//	user      the tool's prompt (instructions) and the first state
//	assistant the model's first action, without its stop string
//	user      the state after that action
//	...       one assistant and one user message per later turn
//
// and the reply is the next action. A request without turns (one prompt)
// is sent as a single user message. Both endpoints get the tool's stop
// strings, max_tokens (omitted when 0: the server's default applies),
// temperature (0 is greedy), top_p, and a seed (Sampling.Seeds[i] when the
// request has one per context, else Sampling.Seed plus the context's
// index), so samples of the same context differ and a rerun with a seeding
// server repeats them; with logprobs = true the token log-probs
// the server returns fill Completion.Logprobs (Completion.Tokens stays
// empty: the server's token ids mean nothing to Lathe).
//
// # Completions
//
// The API leaves the stop string out of the text and Lathe keeps it, so a
// completion that ended with finish_reason "stop" gets back the stop string
// the server names in vLLM's stop_reason field, or else the first one (an
// answer ended by the model's end-of-turn token ends the action all the
// same). finish_reason "length" is StopReason "length" when the completion
// used max_tokens tokens and "context" when it stopped short of them: the
// model's window was full. A server that refuses a prompt longer than its
// window (HTTP 400 with code context_length_exceeded, llama.cpp's
// exceed_context_size_error, or a message naming the context length)
// gives a completion with StopReason "context" and no text, which ends the
// episode as an overflow instead of failing the eval; a refusal that
// blames max_tokens itself (param "max_tokens": no prompt would fit) is an
// error. A server that names no parameter, such as vLLM, cannot be told
// apart: keep max_tokens well below the model's window.
//
// # Failures
//
// Each attempt has timeout_s. HTTP 408, 429 and 5xx answers, timeouts and
// connection errors (refused, reset, closed mid-answer) are retried up to
// `retries` times with exponential backoff from 0.5 s, doubling, at most
// 30 s, or after the delay the server's Retry-After header asks for (up to
// 5 minutes; a longer one fails at once). Anything else (a bad request, an
// unknown model, a reply that is not the API's JSON) fails the Generate call
// with the server's own error message, the URL and the HTTP status. The API
// key is read from the environment variable api_key_env names, so it never
// sits in an experiment file or a run directory.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/lathe-ml/lathe/sdk"
	"github.com/lathe-ml/lathe/sdk/serve"
)

// Name is the plugin's name in experiment files.
const Name = "openai"

// The endpoints a model block can name.
const (
	EndpointCompletions = "completions"
	EndpointChat        = "chat"
)

// Config is the plugin's HCL block, defaults filled in.
type Config struct {
	BaseURL     string  `json:"base_url"`
	Model       string  `json:"model"`
	APIKeyEnv   string  `json:"api_key_env"`
	Endpoint    string  `json:"endpoint"`
	Concurrency int     `json:"concurrency"`
	TimeoutS    float64 `json:"timeout_s"`
	Retries     int     `json:"retries"`
	Logprobs    bool    `json:"logprobs"`
}

var schema = sdk.Schema{
	Description: "A model served over the OpenAI HTTP API (vLLM, SGLang, llama.cpp, Ollama, lathe serve); inference only.",
	Attributes: []sdk.Attribute{
		{Name: "base_url", Type: "string", Required: true, Description: `The API's root, ending in /v1: "http://127.0.0.1:8000/v1" (vLLM), "http://127.0.0.1:8080/v1" (llama.cpp, lathe serve), "http://127.0.0.1:11434/v1" (Ollama).`},
		{Name: "model", Type: "string", Required: true, Description: "The model name the server knows (GET /v1/models lists them)."},
		{Name: "api_key_env", Type: "string", Default: "", Description: `Name of the environment variable holding the API key, sent as a bearer token ("OPENAI_API_KEY"); "" sends none. The key itself never goes in an experiment file.`},
		{Name: "endpoint", Type: "string", Default: EndpointChat, Description: `"chat": POST /chat/completions with the episode as user and assistant turns (instruction-tuned models); "completions": POST /completions with Lathe's text layout as the prompt (base models, lathe serve).`},
		{Name: "concurrency", Type: "number", Default: 8.0, Description: "Requests in flight at once; a batch of contexts is sent as that many concurrent requests."},
		{Name: "timeout_s", Type: "number", Default: 120.0, Description: "Seconds one attempt of a request may take before it is abandoned (and retried)."},
		{Name: "retries", Type: "number", Default: 3.0, Description: "Retries of a request after HTTP 408/429/5xx, a timeout or a connection error, with exponential backoff or the server's Retry-After."},
		{Name: "logprobs", Type: "bool", Default: true, Description: "Ask for the sampled tokens' log-probs (servers that do not return them are fine)."},
	},
}

func defaultConfig() Config {
	return Config{Endpoint: EndpointChat, Concurrency: 8, TimeoutS: 120, Retries: 3, Logprobs: true}
}

func (c Config) validate() error {
	if errs := c.check(); len(errs) > 0 {
		return fmt.Errorf("openai: config: %w", errs)
	}
	return nil
}

// check returns one error per invalid value, naming its attribute.
func (c Config) check() sdk.ConfigErrors {
	var errs sdk.ConfigErrors
	bad := errs.Addf
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		bad("base_url", `is required, e.g. "http://127.0.0.1:8000/v1"`)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("base_url", `%q is not an http(s) URL such as "http://127.0.0.1:8000/v1"`, c.BaseURL)
	}
	if c.Model == "" {
		bad("model", "is required: the name the server lists under GET /v1/models")
	}
	if c.Endpoint != EndpointChat && c.Endpoint != EndpointCompletions {
		bad("endpoint", "must be %q or %q, got %q", EndpointChat, EndpointCompletions, c.Endpoint)
	}
	if c.Concurrency < 1 {
		bad("concurrency", "must be at least 1, got %d", c.Concurrency)
	}
	if !(c.TimeoutS > 0) {
		bad("timeout_s", "must be positive, got %g", c.TimeoutS)
	}
	if c.Retries < 0 {
		bad("retries", "must be 0 or more, got %d", c.Retries)
	}
	if c.APIKeyEnv != "" && os.Getenv(c.APIKeyEnv) == "" {
		bad("api_key_env", "names %s, which is not set in the environment (export it before running Lathe)", c.APIKeyEnv)
	}
	return errs
}

// Model is the plugin. Generate may be called concurrently.
type Model struct {
	mu     sync.Mutex
	cfg    Config
	client *client
	log    hclog.Logger
}

// New returns an unconfigured model. It logs retries through the SDK's
// plugin logger (JSON lines on stderr for the host's run log).
func New() *Model { return &Model{log: serve.Logger().Named("openai")} }

// SetLogger replaces the model's logger.
func (m *Model) SetLogger(l hclog.Logger) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = l
	if m.client != nil {
		m.client.log = l
	}
}

// Schema implements sdk.Plugin.
func (m *Model) Schema(context.Context) (sdk.Schema, error) { return schema, nil }

// Configure implements sdk.Plugin.
// ValidateConfig implements sdk.ConfigValidator with Configure's checks.
func (m *Model) ValidateConfig(_ context.Context, raw sdk.Config) ([]sdk.ConfigError, error) {
	cfg := defaultConfig()
	if err := raw.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("openai: %w", err)
	}
	return cfg.check(), nil
}

// Configure implements sdk.Plugin.
func (m *Model) Configure(_ context.Context, raw sdk.Config) error {
	cfg := defaultConfig()
	if err := raw.Decode(&cfg); err != nil {
		return fmt.Errorf("openai: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg = cfg
	m.client = newClient(cfg, os.Getenv(cfg.APIKeyEnv))
	m.client.log = m.log
	return nil
}

func (m *Model) ready() (*client, Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client == nil {
		return nil, Config{}, errors.New("openai: model used before Configure")
	}
	return m.client, m.cfg, nil
}

// Info implements sdk.Model. The window of a served model is the server's
// business (it answers a prompt that does not fit), so Context is 0.
func (m *Model) Info(context.Context) (sdk.ModelInfo, error) {
	_, cfg, err := m.ready()
	if err != nil {
		return sdk.ModelInfo{}, err
	}
	return sdk.ModelInfo{Name: cfg.Model, Device: "remote", Backend: "openai-api " + cfg.Endpoint + " " + cfg.BaseURL}, nil
}

// Generate implements sdk.Model: one request per context, at most
// concurrency at a time; the first failure cancels the rest and is
// returned naming its context.
func (m *Model) Generate(ctx context.Context, req sdk.GenerateRequest) (sdk.GenerateResponse, error) {
	c, cfg, err := m.ready()
	if err != nil {
		return sdk.GenerateResponse{}, err
	}
	S := req.Sampling
	if S.Temperature < 0 || S.TopP < 0 || S.TopP > 1 || S.MaxTokens < 0 {
		return sdk.GenerateResponse{}, fmt.Errorf("openai: bad sampling: temperature %g, top_p %g, max_tokens %d", S.Temperature, S.TopP, S.MaxTokens)
	}
	if len(req.Messages) != 0 && len(req.Messages) != len(req.Contexts) {
		return sdk.GenerateResponse{}, fmt.Errorf("openai: %d message lists for %d contexts", len(req.Messages), len(req.Contexts))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := sdk.GenerateResponse{Completions: make([]sdk.Completion, len(req.Contexts))}
	errs := make([]error, len(req.Contexts))
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range req.Contexts {
		var msgs []sdk.Message
		if len(req.Messages) > 0 {
			msgs = req.Messages[i]
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			seed := S.Seed + int64(i)
			if len(S.Seeds) == len(req.Contexts) {
				seed = S.Seeds[i]
			}
			comp, err := c.complete(ctx, req.Contexts[i], msgs, S, seed)
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			out.Completions[i] = comp
		}(i)
	}
	wg.Wait()
	// The first real failure, not the cancellations it caused.
	for i, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return sdk.GenerateResponse{}, fmt.Errorf("openai: context %d of %d: %w", i+1, len(errs), err)
		}
	}
	for _, err := range errs {
		if err != nil {
			return sdk.GenerateResponse{}, fmt.Errorf("openai: %w", err)
		}
	}
	return out, nil
}

// newHTTPClient pools as many connections per host as requests run at
// once, so a batch reuses them instead of dialling each time.
func newHTTPClient(concurrency int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	return &http.Client{Transport: tr}
}

// backoff is the wait before retry attempt (1-based) when the server names
// none: base doubled per attempt, at most maxBackoff.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base << min(attempt-1, 16)
	return min(d, maxBackoff)
}

const (
	maxBackoff    = 30 * time.Second
	maxRetryAfter = 5 * time.Minute
)

// trimSlash drops the trailing slashes of a base URL.
func trimSlash(s string) string { return strings.TrimRight(s, "/") }
