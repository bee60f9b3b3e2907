package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzRequest: any body POSTed to either endpoint, by any client of the
// network the server listens on, is answered (in-process, through
// ServeHTTP) with 200 and a completion, or with a 4xx whose body is an
// OpenAI error object naming what is wrong; never a panic or a 5xx. The
// first byte picks the endpoint.
func FuzzRequest(f *testing.F) {
	for _, body := range []string{
		`{"model":"m","prompt":"def f():","max_tokens":8,"temperature":0.5,"stop":["\n"]}`,
		`{"model":"m","prompt":["a","b"],"n":2,"seed":3,"logprobs":1}`,
		`{"model":"m","prompt":[1,2,3]}`,
		`{"model":"m","prompt":"x","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","prompt":"x","max_tokens":-1,"top_p":2}`,
		`{"model":"other","prompt":"x"}`,
		`{"model":"m","prompt":"x","echo":true,"suffix":"y"}`,
		`{"model":"m","prompt":"x","n":100000}`,
		`{"prompt":`,
	} {
		f.Add(byte(0), []byte(body))
	}
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"user","content":"fix it"}],"max_tokens":8}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":"b"}]}`,
		`{"model":"m","messages":[]}`,
		`{"model":"m","messages":[{"role":"tool","content":null}],"stop":"\n"}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}],"stream":true}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`,
	} {
		f.Add(byte(1), []byte(body))
	}
	m := &echoModel{window: 512}
	s, err := New(context.Background(), m, Options{ModelName: "m", MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, endpoint byte, body []byte) {
		path := "/v1/completions"
		if endpoint%2 == 1 {
			path = "/v1/chat/completions"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch code := rec.Code; {
		case code == http.StatusOK:
		case code >= 400 && code < 500:
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("%s %q: %d with a body that is no OpenAI error: %q", path, body, code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("%s %q: status %d: %s", path, body, code, rec.Body.Bytes())
		}
	})
}
