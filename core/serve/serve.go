// Package serve answers the OpenAI HTTP API with an sdk.Model, so that any
// OpenAI client (an agent framework, a notebook, a chat UI, Lathe's own
// `openai` model plugin) can use a model Lathe trained. `lathe serve` puts
// a checkpoint behind it; the package knows nothing of checkpoints, flags
// or listeners, only of a model and HTTP.
//
// Routes: GET /v1/models (and /v1/models/{id}), POST /v1/completions and
// POST /v1/chat/completions, with prompt or messages, max_tokens
// (max_completion_tokens for chat), temperature, top_p, stop, n, seed,
// logprobs and stream. Unknown fields are ignored; fields the model cannot
// honour (echo, suffix, best_of, alternatives in top_logprobs, prompts as
// token ids) are refused by name. Errors have the API's shape,
// {"error": {"message", "type", "param", "code"}}, and its status codes.
//
// # Text layout
//
// A completions prompt reaches the model as it is. Chat messages are laid
// out as Lathe's episodes are (core/episode.Render): user and system text
// as it is, each assistant message after "$ " and ended by the first stop
// string, and a final "$ " for the model to write after, so a chat built by
// episode.Messages reaches the model as exactly the text a rollout would
// have given it. Completions drop the stop string that ended them, as the
// API does, and name it in vLLM's stop_reason field. A model's window
// limit is its own: the built-in transformer keeps the end of a prompt
// that is too long (from a whole line) and ends a completion that fills
// the window with finish_reason "length" before max_tokens.
//
// # Batching
//
// Requests wait in a queue; one goroutine takes, each time the model is
// free, every queued request that can share a Generate call (the same
// temperature, top_p, max_tokens and stop strings), up to MaxBatch
// contexts, after letting the first one wait BatchWait for company. A
// sampled request with a seed runs in a call of its own (its choices are
// then a function of the request alone, as a seed promises); greedy and
// unseeded requests share. A request whose client goes away is dropped
// from the queue, and a Generate call is cancelled when every request in
// it is gone.
//
// Log-probs are those of every generated token, the one holding the stop
// string included. Token strings are "token_id:N", the form vLLM uses for
// return_tokens_as_token_ids: the model's tokenizer sits behind the plugin
// interface, which gives token ids only, and for the same reason usage
// counts completion tokens only (prompt_tokens is 0). Streaming sends each
// choice as one chunk when its batch finishes: the model returns whole
// completions.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lathe-ml/lathe/sdk"
)

// Options configures a Server.
type Options struct {
	// ModelName is the id clients send in "model" and /v1/models lists.
	ModelName string
	// APIKey, when set, is the bearer token every request must carry.
	APIKey string
	// MaxBatch bounds the contexts of one Generate call; default 64.
	MaxBatch int
	// BatchWait is how long the first request of a batch waits for others
	// to arrive while the model is idle; default 2 ms. Requests that arrive
	// while the model is busy join the next batch anyway.
	BatchWait time.Duration
	// MaxN bounds n (choices per prompt); default 16.
	MaxN int
	// MaxBodyBytes bounds a request body; default 16 MiB.
	MaxBodyBytes int64
}

// Server is an http.Handler for one model. Close it after the HTTP server
// that uses it has shut down.
type Server struct {
	opts    Options
	window  int // the model's context window in tokens; 0: unknown
	created int64
	queue   *batcher
	mux     *http.ServeMux
}

// New serves model under opts.ModelName. It asks the model for its window
// (ModelInfo.Context) to refuse a max_tokens that cannot fit.
func New(ctx context.Context, model sdk.Model, opts Options) (*Server, error) {
	if opts.ModelName == "" {
		return nil, errors.New("serve: a model name is required")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.BatchWait <= 0 {
		opts.BatchWait = 2 * time.Millisecond
	}
	if opts.MaxN <= 0 {
		opts.MaxN = 16
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	info, err := model.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("serve: model info: %w", err)
	}
	s := &Server{opts: opts, window: info.Context, created: time.Now().Unix(),
		queue: newBatcher(model, opts.MaxBatch, opts.BatchWait)}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /v1/models", s.models)
	s.mux.HandleFunc("GET /v1/models/{id...}", s.model)
	s.mux.HandleFunc("POST /v1/completions", s.completions)
	s.mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isRoute(r.URL.Path) {
			writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "",
				fmt.Sprintf("%s %s is not supported; see the package doc for the routes", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "unknown_url",
			fmt.Sprintf("no route %s %s: lathe serve answers GET /v1/models, POST /v1/completions and POST /v1/chat/completions", r.Method, r.URL.Path))
	})
	return s, nil
}

func isRoute(p string) bool {
	return p == "/v1/models" || strings.HasPrefix(p, "/v1/models/") || p == "/v1/completions" || p == "/v1/chat/completions"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.APIKey != "" && !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
			"missing or wrong API key: send it as the header Authorization: Bearer KEY")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) == 1
}

// Close stops the batching queue; requests still queued fail.
func (s *Server) Close() { s.queue.close() }

type modelCard struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// MaxModelLen is vLLM's name for the window, in tokens.
	MaxModelLen int `json:"max_model_len,omitempty"`
}

func (s *Server) card() modelCard {
	return modelCard{ID: s.opts.ModelName, Object: "model", Created: s.created, OwnedBy: "lathe", MaxModelLen: s.window}
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []modelCard{s.card()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.opts.ModelName {
		s.unknownModel(w, id)
		return
	}
	writeJSON(w, http.StatusOK, s.card())
}

func (s *Server) unknownModel(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
		fmt.Sprintf("the model %q does not exist: this server serves %q", name, s.opts.ModelName))
}

// newID returns an id such as "cmpl-1f3a...".
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
